package dispatcher

import (
	"context"
	"testing"
	"time"

	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// A node hears of the secrets and configs its own tasks reference, and of
// nothing else; when its task goes, the next assignment set drops them.
func TestSecretsGoOnlyToNodesWhoseTasksUseThem(t *testing.T) {
	h := newHarness(t, nil)
	h.addNode("worker1")
	h.addNode("worker2")
	err := h.st.Update(context.Background(), func(tx *store.Tx) error {
		for _, s := range []*api.Secret{
			{Id: "s-db", Meta: &api.Meta{}, Spec: &api.SecretSpec{Name: "db_password", Data: []byte("pw")}},
			{Id: "s-other", Meta: &api.Meta{}, Spec: &api.SecretSpec{Name: "unused", Data: []byte("no")}},
		} {
			if err := tx.Create(s); err != nil {
				return err
			}
		}
		if err := tx.Create(&api.Config{Id: "c-nginx", Meta: &api.Meta{}, Spec: &api.ConfigSpec{Name: "nginx.conf", Data: []byte("server {}")}}); err != nil {
			return err
		}
		tk := newTask("t1", "worker1", api.TaskState_TASK_STATE_RUNNING)
		tk.Spec.Container.Secrets = []*api.SecretReference{{SecretId: "s-db", SecretName: "db_password", File: &api.FileTarget{Name: "db_password"}}}
		tk.Spec.Container.Configs = []*api.ConfigReference{{ConfigId: "c-nginx", ConfigName: "nginx.conf", File: &api.FileTarget{Name: "/nginx.conf"}}}
		if err := tx.Create(tk); err != nil {
			return err
		}
		return tx.Create(newTask("t2", "worker2", api.TaskState_TASK_STATE_RUNNING))
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s1, m1 := h.session(ctx, "worker1")
	_, m2 := h.session(ctx, "worker2")
	a1 := m1.GetAssignments()
	if len(a1.GetSecrets()) != 1 || string(a1.GetSecrets()[0].GetSpec().GetData()) != "pw" || len(a1.GetConfigs()) != 1 || a1.GetConfigs()[0].GetId() != "c-nginx" {
		t.Fatalf("worker1 got secrets %v configs %v", a1.GetSecrets(), a1.GetConfigs())
	}
	if a2 := m2.GetAssignments(); len(a2.GetSecrets()) != 0 || len(a2.GetConfigs()) != 0 {
		t.Fatalf("worker2, with no task using them, got secrets %v configs %v", a2.GetSecrets(), a2.GetConfigs())
	}
	// The task is told to stop: its secrets leave the node's set.
	err = h.st.Update(context.Background(), func(tx *store.Tx) error {
		tk := h.task("t1")
		nt := &api.Task{}
		*nt = api.Task{Id: tk.Id, Meta: &api.Meta{Version: tk.GetMeta().GetVersion()}, Spec: tk.Spec, ServiceId: tk.ServiceId, ServiceName: tk.ServiceName,
			Slot: tk.Slot, NodeId: tk.NodeId, Status: tk.Status, DesiredState: api.TaskState_TASK_STATE_SHUTDOWN}
		return tx.Update(nt)
	})
	if err != nil {
		t.Fatal(err)
	}
	for {
		m, err := s1.Recv()
		if err != nil {
			t.Fatal(err)
		}
		a := m.GetAssignments()
		if len(a.GetTasks()) == 1 && a.GetTasks()[0].GetDesiredState() == api.TaskState_TASK_STATE_SHUTDOWN {
			if len(a.GetSecrets()) != 0 || len(a.GetConfigs()) != 0 {
				t.Fatalf("a stopping task's node still gets secrets %v configs %v", a.GetSecrets(), a.GetConfigs())
			}
			return
		}
	}
}
