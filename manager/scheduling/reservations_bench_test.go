package scheduling

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// seedReserved is seed with swarmkit's anchor shape: every node reports
// 64 CPUs and 256 GiB and sits in one of ten zones; every task reserves
// 0.1 CPU and 64 MiB and spreads over node.labels.zone.
func seedReserved(tb testing.TB, nodes, tasks int) *store.Store {
	st := store.New(nil, nil)
	ctx := context.Background()
	if err := st.Batch(ctx, nodes, 5000, func(tx *store.Tx, i int) error {
		return tx.Create(&api.Node{Id: fmt.Sprintf("node%05d", i), Meta: &api.Meta{},
			Spec: &api.NodeSpec{Labels: map[string]string{"zone": fmt.Sprintf("zone%d", i%10)}},
			Description: &api.NodeDescription{Hostname: fmt.Sprintf("host%d", i),
				Resources: &api.Resources{NanoCpus: 64e9, MemoryBytes: 256 << 30}},
			Status: &api.NodeStatus{State: api.NodeState_NODE_STATE_READY}})
	}); err != nil {
		tb.Fatal(err)
	}
	spec := &api.TaskSpec{
		Container: &api.ContainerSpec{Image: "whoami"},
		Resources: &api.ResourceRequirements{Reservations: &api.Resources{NanoCpus: 1e8, MemoryBytes: 64 << 20}},
		Placement: &api.Placement{Preferences: []*api.PlacementPreference{{SpreadDescriptor: "node.labels.zone"}}},
	}
	if err := st.Batch(ctx, tasks, 5000, func(tx *store.Tx, i int) error {
		return tx.Create(&api.Task{Id: fmt.Sprintf("task%07d", i), Meta: &api.Meta{}, ServiceId: "svc", Slot: uint64(i + 1), Spec: spec,
			DesiredState: api.TaskState_TASK_STATE_RUNNING, Status: &api.TaskStatus{State: api.TaskState_TASK_STATE_PENDING}})
	}); err != nil {
		tb.Fatal(err)
	}
	return st
}

// BenchmarkSchedule100kTasks1kNodesReservationsSpread is the issue's
// figure: 100,000 pending tasks with reservations and a spread preference
// over 1,000 nodes, from the scheduler's start to the last commit.
func BenchmarkSchedule100kTasks1kNodesReservationsSpread(b *testing.B) {
	const nodes, tasks = 1000, 100_000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		st := seedReserved(b, nodes, tasks)
		runtime.GC()
		l := New(st, nil)
		b.StartTimer()
		cpu0 := cpuTime()
		start := time.Now()
		n, err := l.Once(context.Background())
		el := time.Since(start)
		cpu := cpuTime() - cpu0
		b.StopTimer()
		if err != nil || n != tasks {
			b.Fatalf("assigned %d of %d: %v", n, tasks, err)
		}
		b.ReportMetric(el.Seconds(), "s/schedule")
		b.ReportMetric(float64(tasks)/el.Seconds(), "tasks/s")
		b.ReportMetric(cpu.Seconds(), "cpu-s")
	}
}

func TestReservationsAndZonesAreHonouredThroughTheStore(t *testing.T) {
	st := seedReserved(t, 20, 1000)
	n, err := New(st, nil).Once(context.Background())
	if err != nil || n != 1000 {
		t.Fatalf("assigned %d, err %v", n, err)
	}
	perZone := map[string]int{}
	st.View(func(tx store.ReadTx) {
		zone := map[string]string{}
		for _, nd := range tx.Nodes() {
			zone[nd.Id] = nd.Spec.Labels["zone"]
		}
		for _, tk := range tx.Tasks() {
			perZone[zone[tk.NodeId]]++
		}
	})
	for z, c := range perZone {
		if c != 100 {
			t.Errorf("zone %s has %d tasks, want 100 (%v)", z, c, perZone)
		}
	}
}

// cpuTime is the CPU time this process has used (all threads, the garbage
// collector's included): on a shared machine it moves less with the load
// than the wall time does.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
