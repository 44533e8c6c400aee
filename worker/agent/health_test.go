package agent_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/minsw/minsw/internal/eventually"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/agent"
	"github.com/minsw/minsw/worker/executor/fake"
)

// withHealth sets a task's health check (as --health-cmd etc. do).
func withHealth(t *testing.T, st *store.Store, id string, h *api.HealthConfig) {
	t.Helper()
	if err := st.Update(context.Background(), func(tx *store.Tx) error {
		tk := proto.Clone(tx.Task(id)).(*api.Task)
		tk.Spec.Container.Healthcheck = h
		return tx.Update(tk)
	}); err != nil {
		t.Fatal(err)
	}
}

func TestHealthyTaskRunsOnlyOnceHealthy(t *testing.T) {
	st := newStore(t, "worker1")
	m := newManager(t, st, nil)
	m.run()
	startAgent(t, "worker1", []string{m.addr}, fake.New())
	assign(t, st, "worker1", "app-healthy", "task1")
	tk := waitState(t, st, "task1", api.TaskState_TASK_STATE_RUNNING)
	if tk.GetStatus().GetHealth() != api.HealthState_HEALTH_STATE_HEALTHY {
		t.Fatalf("running with health %v", tk.GetStatus().GetHealth())
	}
}

func TestUnhealthyTaskFails(t *testing.T) {
	for _, c := range []struct {
		name  string
		image string
		check *api.HealthConfig
	}{
		{"the image's HEALTHCHECK fails", "app-sick", nil},
		{"the service's --health-cmd fails", "busybox", &api.HealthConfig{Test: []string{"CMD", "exit", "1"},
			Interval: durationpb.New(50 * time.Millisecond), Retries: 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := newStore(t, "worker1")
			if c.check != nil {
				assign(t, st, "worker1", c.image, "task1")
			}
			m := newManager(t, st, nil)
			if c.check != nil {
				withHealth(t, st, "task1", c.check)
			}
			m.run()
			startAgent(t, "worker1", []string{m.addr}, fake.New())
			if c.check == nil {
				assign(t, st, "worker1", c.image, "task1")
			}
			tk := waitState(t, st, "task1", api.TaskState_TASK_STATE_FAILED)
			if tk.GetStatus().GetErr() != "task: unhealthy container" || tk.GetStatus().GetHealth() != api.HealthState_HEALTH_STATE_UNHEALTHY {
				t.Fatalf("status %v", tk.GetStatus())
			}
		})
	}
}

func TestNoHealthcheckTurnsTheImagesOff(t *testing.T) {
	st := newStore(t, "worker1")
	assign(t, st, "worker1", "app-sick", "task1")
	withHealth(t, st, "task1", &api.HealthConfig{Test: []string{"NONE"}})
	m := newManager(t, st, nil)
	m.run()
	startAgent(t, "worker1", []string{m.addr}, fake.New())
	tk := waitState(t, st, "task1", api.TaskState_TASK_STATE_RUNNING)
	if tk.GetStatus().GetHealth() != api.HealthState_HEALTH_STATE_NONE {
		t.Fatalf("health %v", tk.GetStatus().GetHealth())
	}
	eventually.Stays(t, 300*time.Millisecond, "the task running for two would-be probe periods", func() bool {
		return task(st, "task1").GetStatus().GetState() == api.TaskState_TASK_STATE_RUNNING
	})
}

// withdrawNet records the order of withdrawals and container stops.
type withdrawNet struct {
	netFunc
	mu     sync.Mutex
	events []string
}

func (w *withdrawNet) Withdraw(_ context.Context, id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.events = append(w.events, "withdraw "+id)
}

func (w *withdrawNet) record(e string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.events = append(w.events, e)
}

func TestStoppingTaskLeavesTheLoadBalancerBeforeItsStopSignal(t *testing.T) {
	st := newStore(t, "worker1")
	m := newManager(t, st, nil)
	m.run()
	ex := fake.New()
	nw := &withdrawNet{netFunc: func(*api.Task, []*api.Network) string { return "" }}
	ex.Hooks.Stop = func(ctx context.Context, id string) error { nw.record("stop"); return nil }
	cfg := agent.DefaultConfig()
	cfg.NodeID, cfg.Managers, cfg.Dial, cfg.Executor, cfg.Network = "worker1", []string{m.addr}, dial, ex, nw
	cfg.Description = &api.NodeDescription{Hostname: "worker1"}
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	assign(t, st, "worker1", "app-healthy", "task1")
	waitState(t, st, "task1", api.TaskState_TASK_STATE_RUNNING)
	setDesired(t, st, "task1", api.TaskState_TASK_STATE_SHUTDOWN)
	waitState(t, st, "task1", api.TaskState_TASK_STATE_SHUTDOWN)
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if len(nw.events) < 2 || nw.events[0] != "withdraw task1" || nw.events[1] != "stop" {
		t.Fatalf("events %v, want the withdrawal first", nw.events)
	}
}
