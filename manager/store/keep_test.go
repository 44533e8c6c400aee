package store

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// recorder replicates as loopback does and keeps each decoded command.
type recorder struct {
	loopback
	cmds []*api.RaftCommand
}

func (r *recorder) Propose(_ context.Context, cmd *api.RaftCommand) error {
	b, err := proto.Marshal(cmd)
	if err != nil {
		return err
	}
	var c api.RaftCommand
	if err := proto.Unmarshal(b, &c); err != nil {
		return err
	}
	r.cmds = append(r.cmds, proto.Clone(&c).(*api.RaftCommand))
	r.idx++
	return r.s.Apply(r.idx, &c)
}

func fullTask(id string) *api.Task {
	return &api.Task{Id: id, Meta: &api.Meta{}, ServiceId: "svc",
		Spec:     &api.TaskSpec{Container: &api.ContainerSpec{Image: "whoami", Env: []string{"A=1"}}},
		Endpoint: &api.Endpoint{VirtualIps: []*api.VirtualIP{{NetworkId: "net1", Addr: "10.0.1.2/24"}}},
		Networks: []*api.NetworkAttachment{{NetworkId: "net1", Addresses: []string{"10.0.1.3/24"}}},
		Status:   &api.TaskStatus{State: api.TaskState_TASK_STATE_PENDING}}
}

// A task update that shares its spec, endpoint and networks with the
// stored version is sent without them and stored with them; one that
// replaces a part (even within the same transaction as a write that kept
// it) sends and stores the new part.
func TestTaskUpdateSendsOnlyWhatChanged(t *testing.T) {
	s := New(nil, nil)
	rec := &recorder{loopback: loopback{s: s}}
	s.SetProposer(rec)
	ctx := context.Background()
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.Create(fullTask("t1")); err != nil {
			return err
		}
		return tx.Create(fullTask("t2"))
	}); err != nil {
		t.Fatal(err)
	}
	var stored1, stored2 *api.Task
	s.View(func(tx ReadTx) { stored1, stored2 = tx.Task("t1"), tx.Task("t2") })
	w := s.Watch(ForTables(TableTask))
	defer w.Close()

	newSpec := proto.Clone(stored2.Spec).(*api.TaskSpec)
	newSpec.Container.Image = "whoami:v2"
	if err := s.Update(ctx, func(tx *Tx) error {
		placed := ShallowTask(tx.Task("t1"))
		placed.NodeId = "n1"
		if err := tx.Update(placed); err != nil {
			return err
		}
		// t2: a new spec, then a second write keeping that new one.
		up := ShallowTask(tx.Task("t2"))
		up.Spec = newSpec
		if err := tx.Update(up); err != nil {
			return err
		}
		again := ShallowTask(tx.Task("t2"))
		again.NodeId = "n2"
		return tx.Update(again)
	}); err != nil {
		t.Fatal(err)
	}
	sent := map[string]*api.StoreAction{}
	for _, a := range rec.cmds[len(rec.cmds)-1].GetActions() {
		sent[a.GetTask().GetId()] = a
	}
	if a := sent["t1"]; a == nil || !a.KeepsSpec || !a.KeepsEndpoint || !a.KeepsNetworks ||
		a.GetTask().Spec != nil || a.GetTask().Endpoint != nil || a.GetTask().Networks != nil || a.GetTask().GetMeta().CreatedAt != nil {
		t.Fatalf("t1's placement was sent as %v, want it without spec, endpoint and networks", a)
	}
	if a := sent["t2"]; a == nil || a.KeepsSpec || !proto.Equal(a.GetTask().Spec, newSpec) || !a.KeepsEndpoint || a.GetTask().NodeId != "n2" {
		t.Fatalf("t2's update was sent as %v, want its new spec with it", a)
	}
	s.View(func(tx ReadTx) {
		t1, t2 := tx.Task("t1"), tx.Task("t2")
		if t1.NodeId != "n1" || t1.Meta.CreatedAt != stored1.Meta.CreatedAt || t1.Spec != stored1.Spec || t1.Endpoint != stored1.Endpoint || len(t1.Networks) != 1 || t1.Networks[0] != stored1.Networks[0] {
			t.Fatalf("t1 stored as %v, want the stored spec, endpoint and networks kept", t1)
		}
		if t2.NodeId != "n2" || !proto.Equal(t2.Spec, newSpec) || t2.Endpoint != stored2.Endpoint {
			t.Fatalf("t2 stored as %v, want the new spec", t2)
		}
	})
	for _, e := range w.Drain() {
		if tk := e.Object.(*api.Task); tk.Meta.CreatedAt == nil || tk.Spec == nil || tk.Endpoint == nil || len(tk.Networks) != 1 {
			t.Fatalf("watchers saw task %s without a kept part: %v", tk.Id, tk)
		}
	}
}

// The FSM refuses a kept part where there is no stored version to take it
// from, and a stale version is a conflict before anything is taken.
func TestKeptPartsNeedTheStoredVersion(t *testing.T) {
	s := New(nil, nil)
	task := fullTask("t1")
	create := &api.StoreAction{Kind: api.StoreActionKind_STORE_ACTION_CREATE, Target: &api.StoreAction_Task{Task: task}, KeepsSpec: true}
	if err := s.Apply(1, &api.RaftCommand{Actions: []*api.StoreAction{create}}); !errdefs.Is(err, errdefs.KindInvalidArgument) {
		t.Fatalf("a create keeping a part: got %v, want invalid", err)
	}
	create.KeepsSpec = false
	if err := s.Apply(2, &api.RaftCommand{Actions: []*api.StoreAction{create}}); err != nil {
		t.Fatal(err)
	}
	stale := &api.Task{Id: "t1", Meta: &api.Meta{Version: 1}, NodeId: "n1"}
	up := &api.StoreAction{Kind: api.StoreActionKind_STORE_ACTION_UPDATE, Target: &api.StoreAction_Task{Task: stale}, KeepsSpec: true}
	if err := s.Apply(3, &api.RaftCommand{Actions: []*api.StoreAction{up}}); !errdefs.Is(err, errdefs.KindConflict) {
		t.Fatalf("a stale update keeping a part: got %v, want a conflict", err)
	}
	svc := &api.StoreAction{Kind: api.StoreActionKind_STORE_ACTION_UPDATE, Target: &api.StoreAction_Service{Service: &api.Service{Id: "x", Meta: &api.Meta{}}}, KeepsSpec: true}
	if err := s.Apply(4, &api.RaftCommand{Actions: []*api.StoreAction{svc}}); err == nil {
		t.Fatal("a service update keeping a task's part was applied")
	}
	s.View(func(tx ReadTx) {
		if got := tx.Task("t1"); got.NodeId != "" || got.Spec == nil {
			t.Fatalf("refused updates changed the task: %v", got)
		}
	})
}
