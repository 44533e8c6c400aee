package scheduling

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

func seed(tb testing.TB, nodes, tasks int) *store.Store {
	st := store.New(nil, nil)
	ctx := context.Background()
	if err := st.Batch(ctx, nodes, 5000, func(tx *store.Tx, i int) error {
		return tx.Create(&api.Node{Id: fmt.Sprintf("node%05d", i), Meta: &api.Meta{}, Spec: &api.NodeSpec{},
			Description: &api.NodeDescription{Hostname: fmt.Sprintf("host%d", i)}, Status: &api.NodeStatus{State: api.NodeState_NODE_STATE_READY}})
	}); err != nil {
		tb.Fatal(err)
	}
	spec := &api.TaskSpec{Container: &api.ContainerSpec{Image: "whoami"}}
	if err := st.Batch(ctx, tasks, 5000, func(tx *store.Tx, i int) error {
		return tx.Create(&api.Task{Id: fmt.Sprintf("task%07d", i), Meta: &api.Meta{}, ServiceId: "svc", Slot: uint64(i + 1), Spec: spec,
			DesiredState: api.TaskState_TASK_STATE_RUNNING, Status: &api.TaskStatus{State: api.TaskState_TASK_STATE_PENDING}})
	}); err != nil {
		tb.Fatal(err)
	}
	return st
}

func TestPendingTasksAreAssignedAndSpread(t *testing.T) {
	st := seed(t, 3, 7)
	n, err := New(st, nil).Once(context.Background())
	if err != nil || n != 7 {
		t.Fatalf("assigned %d, err %v", n, err)
	}
	per := map[string]int{}
	st.View(func(tx store.ReadTx) {
		for _, tk := range tx.Tasks() {
			if tk.Status.State != api.TaskState_TASK_STATE_ASSIGNED || tk.NodeId == "" {
				t.Fatalf("task %s not assigned: %v", tk.Id, tk.Status)
			}
			per[tk.NodeId]++
		}
	})
	for node, c := range per {
		if c < 2 || c > 3 {
			t.Fatalf("uneven spread: %s has %d (%v)", node, c, per)
		}
	}
}

func TestNoSuitableNodeIsExplained(t *testing.T) {
	st := seed(t, 2, 1)
	_ = st.Update(context.Background(), func(tx *store.Tx) error {
		for _, n := range tx.Nodes() {
			nn := cloneNode(n)
			nn.Spec.Availability = api.NodeAvailability_NODE_AVAILABILITY_DRAIN
			if err := tx.Update(nn); err != nil {
				return err
			}
		}
		return nil
	})
	if n, err := New(st, nil).Once(context.Background()); err != nil || n != 0 {
		t.Fatalf("assigned %d, err %v", n, err)
	}
	st.View(func(tx store.ReadTx) {
		tk := tx.Tasks()[0]
		if tk.Status.State != api.TaskState_TASK_STATE_PENDING || tk.Status.Err == "" {
			t.Fatalf("unplaceable task: %v", tk.Status)
		}
		t.Logf("reason: %s", tk.Status.Err)
	})
}

// benchSchedule measures what the issue asks: from N pending tasks of one
// service in the store to all of them assigned in the store (in-memory
// store, no raft), clock from the scheduler's start to the last commit.
func benchSchedule(b *testing.B, nodes, tasks int) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		st := seed(b, nodes, tasks)
		runtime.GC()
		l := New(st, nil)
		b.StartTimer()
		start := time.Now()
		n, err := l.Once(context.Background())
		el := time.Since(start)
		b.StopTimer()
		if err != nil || n != tasks {
			b.Fatalf("assigned %d of %d: %v", n, tasks, err)
		}
		b.ReportMetric(el.Seconds(), "s/schedule")
		b.ReportMetric(float64(tasks)/el.Seconds(), "tasks/s")
	}
}

func BenchmarkSchedule100kTasks1kNodes(b *testing.B) { benchSchedule(b, 1000, 100_000) }
func BenchmarkSchedule10kTasks100Nodes(b *testing.B) { benchSchedule(b, 100, 10_000) }

func cloneNode(n *api.Node) *api.Node { return proto.Clone(n).(*api.Node) }

// A scheduling pass leaves the tasks it read as they were: readers of an
// older snapshot still see them pending, unversioned by the pass.
func TestSchedulingLeavesStoredTasksUntouched(t *testing.T) {
	st := seedReserved(t, 4, 40)
	var before []*api.Task
	st.View(func(tx store.ReadTx) { before = tx.Tasks() })
	versions := map[string]uint64{}
	for _, tk := range before {
		versions[tk.Id] = tk.GetMeta().GetVersion()
	}
	if n, err := New(st, nil).Once(context.Background()); err != nil || n != 40 {
		t.Fatalf("assigned %d, err %v", n, err)
	}
	for _, tk := range before {
		if tk.NodeId != "" || tk.GetStatus().GetState() != api.TaskState_TASK_STATE_PENDING || tk.GetMeta().GetVersion() != versions[tk.Id] {
			t.Fatalf("task %s read before the pass changed: node %q state %v version %d", tk.Id, tk.NodeId, tk.GetStatus().GetState(), tk.GetMeta().GetVersion())
		}
	}
	st.View(func(tx store.ReadTx) {
		for _, tk := range tx.Tasks() {
			if tk.NodeId == "" || tk.GetStatus().GetState() != api.TaskState_TASK_STATE_ASSIGNED {
				t.Fatalf("task %s after the pass: node %q state %v", tk.Id, tk.NodeId, tk.GetStatus().GetState())
			}
		}
	})
}
