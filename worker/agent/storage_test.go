package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/agent"
	"github.com/minsw/minsw/worker/executor"
	"github.com/minsw/minsw/worker/executor/fake"
	"github.com/minsw/minsw/worker/volume"
)

func startAgentWithVolumes(t *testing.T, node, addr string, ex executor.Executor, vols agent.Volumes) *agent.Agent {
	t.Helper()
	cfg := agent.DefaultConfig()
	cfg.NodeID, cfg.Managers, cfg.Dial, cfg.Executor, cfg.Volumes = node, []string{addr}, dial, ex, vols
	cfg.Description = &api.NodeDescription{Hostname: node}
	cfg.ReconnectDelay, cfg.MaxReconnectDelay = 20*time.Millisecond, 200*time.Millisecond
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return a
}

// A task's secrets, configs and mounts reach its container spec; the node
// holds the secret only while a task needs it, and an anonymous volume goes
// with its container while a named one stays.
func TestTaskGetsItsSecretsConfigsAndVolumes(t *testing.T) {
	st := newStore(t, "worker1")
	m := newManager(t, st, nil)
	m.run()
	ex := fake.New()
	vols, err := volume.New(filepath.Join(t.TempDir(), "volumes"), nil)
	if err != nil {
		t.Fatal(err)
	}
	a := startAgentWithVolumes(t, "worker1", m.addr, ex, vols)
	err = st.Update(context.Background(), func(tx *store.Tx) error {
		if err := tx.Create(&api.Secret{Id: "sec1", Meta: &api.Meta{}, Spec: &api.SecretSpec{Name: "app-key", Data: []byte("k3y")}}); err != nil {
			return err
		}
		if err := tx.Create(&api.Config{Id: "cfg1", Meta: &api.Meta{}, Spec: &api.ConfigSpec{Name: "redis-config", Data: []byte("port 6379")}}); err != nil {
			return err
		}
		return tx.Create(&api.Task{
			Id: "task1", Meta: &api.Meta{}, ServiceId: "svc1", ServiceName: "db", Slot: 1, NodeId: "worker1",
			DesiredState: api.TaskState_TASK_STATE_RUNNING,
			Status:       &api.TaskStatus{State: api.TaskState_TASK_STATE_ASSIGNED},
			Spec: &api.TaskSpec{Container: &api.ContainerSpec{
				Image:   "redis",
				Secrets: []*api.SecretReference{{SecretId: "sec1", SecretName: "app-key", File: &api.FileTarget{Name: "app", Uid: "1000", Gid: "1001", Mode: 0o400}}},
				Configs: []*api.ConfigReference{{ConfigId: "cfg1", ConfigName: "redis-config", File: &api.FileTarget{Name: "/usr/local/etc/redis/redis.conf", Uid: "0", Gid: "0", Mode: 0o440}}},
				Mounts: []*api.Mount{
					{Type: api.MountType_MOUNT_TYPE_VOLUME, Source: "dbdata", Target: "/data"},
					{Type: api.MountType_MOUNT_TYPE_VOLUME, Target: "/scratch", VolumeOptions: &api.VolumeOptions{Nocopy: true}},
					{Type: api.MountType_MOUNT_TYPE_TMPFS, Target: "/cache", TmpfsOptions: &api.TmpfsOptions{SizeBytes: 1 << 20, Mode: 0o1777}},
					{Type: api.MountType_MOUNT_TYPE_BIND, Source: "/srv", Target: "/srv", Readonly: true,
						BindOptions: &api.BindOptions{Propagation: api.MountPropagation_MOUNT_PROPAGATION_RSLAVE}},
				},
			}},
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, st, "task1", api.TaskState_TASK_STATE_RUNNING)
	spec, _ := ex.Spec(agent.ContainerID("task1"))
	if len(spec.Files) != 2 {
		t.Fatalf("files %v", spec.Files)
	}
	sec, cfg := spec.Files[0], spec.Files[1]
	if sec.Target != "/run/secrets/app" || string(sec.Data) != "k3y" || sec.UID != 1000 || sec.GID != 1001 || sec.Mode != 0o400 {
		t.Fatalf("secret file %+v", sec)
	}
	if cfg.Target != "/usr/local/etc/redis/redis.conf" || string(cfg.Data) != "port 6379" || cfg.Mode != 0o440 {
		t.Fatalf("config file %+v", cfg)
	}
	if len(spec.Mounts) != 4 {
		t.Fatalf("mounts %+v", spec.Mounts)
	}
	named, anon, tmpfs, bind := spec.Mounts[0], spec.Mounts[1], spec.Mounts[2], spec.Mounts[3]
	if named.Kind != executor.MountBind || named.Volume != "dbdata" || !strings.HasSuffix(named.Source, "/dbdata/_data") || !named.CopyUp {
		t.Fatalf("named volume %+v", named)
	}
	if anon.Kind != executor.MountBind || len(anon.Volume) != 64 || anon.CopyUp {
		t.Fatalf("anonymous volume %+v", anon)
	}
	if tmpfs.Kind != executor.MountTmpfs || tmpfs.TmpfsSize != 1<<20 || tmpfs.TmpfsMode != os.ModeSticky|0o777 {
		t.Fatalf("tmpfs %+v", tmpfs)
	}
	if bind.Kind != executor.MountBind || bind.Source != "/srv" || !bind.ReadOnly || bind.Propagation != "rslave" {
		t.Fatalf("bind %+v", bind)
	}
	if got := spec.Labels[agent.LabelVolumes]; got != "dbdata,"+anon.Volume {
		t.Fatalf("volumes label %q", got)
	}
	if s, c := a.HeldFiles(); len(s) != 1 || len(c) != 1 {
		t.Fatalf("held %v %v", s, c)
	}
	users, _ := agent.VolumeUsers(context.Background(), ex)
	if len(users["dbdata"]) != 1 || users["dbdata"][0] != "db.1.task1" {
		t.Fatalf("volume users %v", users)
	}

	// The task goes: its container, its anonymous volume and the node's
	// copy of the secret go with it; the named volume stays.
	setDesired(t, st, "task1", api.TaskState_TASK_STATE_SHUTDOWN)
	waitState(t, st, "task1", api.TaskState_TASK_STATE_SHUTDOWN)
	waitFor(t, "secret dropped from memory", func() bool { s, c := a.HeldFiles(); return len(s) == 0 && len(c) == 0 })
	deleteTask(t, st, "task1")
	waitFor(t, "container removed", func() bool { _, ok := ex.Spec(agent.ContainerID("task1")); return !ok })
	waitFor(t, "anonymous volume removed", func() bool { _, err := vols.Get(anon.Volume); return err != nil })
	if _, err := vols.Get("dbdata"); err != nil {
		t.Fatalf("named volume gone: %v", err)
	}
}
