package scheduler

import (
	"math/rand/v2"
	"strconv"
	"testing"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// The benchmarks have the shape of swarmkit's manager/scheduler benchmarks
// (BenchmarkScheduler1kNodes100kTasks and friends), so the two can be run side
// by side: N ready, active nodes with random 25-char base36 IDs and hostnames
// "name<i>", T pending tasks "task<i>" of one service, no constraints, no
// resources. swarmkit's clock runs from scheduler start to the last
// assignment committed to its store; these time the pure placement only (the
// scheduler adapter's benchmark adds the store commit).

func BenchmarkScheduler1kNodes1kTasks(b *testing.B)     { benchBoth(b, 1_000, 1_000) }
func BenchmarkScheduler1kNodes10kTasks(b *testing.B)    { benchBoth(b, 1_000, 10_000) }
func BenchmarkScheduler1kNodes100kTasks(b *testing.B)   { benchBoth(b, 1_000, 100_000) }
func BenchmarkScheduler100Nodes10kTasks(b *testing.B)   { benchBoth(b, 100, 10_000) }
func BenchmarkScheduler100kNodes100kTasks(b *testing.B) { benchBoth(b, 100_000, 100_000) }

// BenchmarkSchedulerManyServices is the other extreme: every task its own
// small group, so the per-(group, node) filter pass dominates.
func BenchmarkSchedulerManyServices(b *testing.B) {
	nodes := benchNodes(1_000)
	pending := make([]*minswv1.Task, 0, 100_000)
	for s := range 10_000 {
		svc := "service" + strconv.Itoa(s)
		for r := range 10 {
			pending = append(pending, benchTask("task"+strconv.Itoa(s*10+r), svc))
		}
	}
	var s Scheduler
	runBench(b, len(pending), func() Plan { return s.Schedule(nodes, nil, pending) })
}

// BenchmarkSchedulerScaleUpOnBusyCluster adds 10,000 tasks to a service that
// already runs 100,000 tasks among 10 services, as `service scale` does.
func BenchmarkSchedulerScaleUpOnBusyCluster(b *testing.B) {
	nodes := benchNodes(1_000)
	existing := make([]*minswv1.Task, 0, 100_000)
	for i := range 100_000 {
		t := benchTask("old"+strconv.Itoa(i), "service"+strconv.Itoa(i%10))
		t.NodeId = nodes[i%len(nodes)].Id
		t.Status.State = minswv1.TaskState_TASK_STATE_RUNNING
		existing = append(existing, t)
	}
	pending := make([]*minswv1.Task, 0, 10_000)
	for i := range 10_000 {
		pending = append(pending, benchTask("task"+strconv.Itoa(i), "service0"))
	}
	var s Scheduler
	runBench(b, len(pending), func() Plan { return s.Schedule(nodes, existing, pending) })
}

// BenchmarkSchedulerHostPorts100kNodes100kTasks places 99,000 replicas
// that publish one host-mode port on 100,000 nodes, 1,000 of which already
// hold it: every node takes at most one task and leaves the heap as it does.
func BenchmarkSchedulerHostPorts100kNodes100kTasks(b *testing.B) {
	nodes := benchNodes(100_000)
	existing := make([]*minswv1.Task, 0, 1_000)
	for i := range 1_000 {
		t := publishHost(tcp, 80)(benchTask("old"+strconv.Itoa(i), "proxy"))
		t.NodeId = nodes[i].Id
		t.Status.State = minswv1.TaskState_TASK_STATE_RUNNING
		existing = append(existing, t)
	}
	pending := make([]*minswv1.Task, 0, 99_000)
	for i := range 99_000 {
		pending = append(pending, publishHost(tcp, 80)(benchTask("task"+strconv.Itoa(i), "service1")))
	}
	var s Scheduler
	runBench(b, len(pending), func() Plan { return s.Schedule(nodes, existing, pending) })
}

// benchBoth times the one-shot Schedule (fresh working memory every call)
// and a reused Scheduler (what the leader keeps), to show what reuse saves.
func benchBoth(b *testing.B, nodeCount, taskCount int) {
	nodes := benchNodes(nodeCount)
	pending := make([]*minswv1.Task, 0, taskCount)
	for i := range taskCount {
		pending = append(pending, benchTask("task"+strconv.Itoa(i), "service1"))
	}
	b.Run("oneshot", func(b *testing.B) {
		runBench(b, taskCount, func() Plan { return Schedule(nodes, nil, pending) })
	})
	b.Run("reused", func(b *testing.B) {
		var s Scheduler
		runBench(b, taskCount, func() Plan { return s.Schedule(nodes, nil, pending) })
	})
}

func runBench(b *testing.B, taskCount int, schedule func() Plan) {
	b.ReportAllocs()
	var plan Plan
	for b.Loop() {
		plan = schedule()
	}
	b.ReportMetric(float64(taskCount)*float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
	for _, d := range plan.Decisions {
		if !d.Placed() {
			b.Fatalf("task %s not placed: %s", d.TaskID, d.Reason)
		}
	}
}

// benchNodes makes ready, active nodes with swarm-like random IDs (so sorting
// them is real work) and hostnames name0, name1, ...
func benchNodes(count int) []*minswv1.Node {
	rng := rand.New(rand.NewPCG(42, 42))
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	nodes := make([]*minswv1.Node, count)
	for i := range nodes {
		id := make([]byte, 25)
		for j := range id {
			id[j] = digits[rng.IntN(len(digits))]
		}
		nodes[i] = &minswv1.Node{
			Id:          string(id),
			Spec:        &minswv1.NodeSpec{},
			Description: &minswv1.NodeDescription{Hostname: "name" + strconv.Itoa(i)},
			Status:      &minswv1.NodeStatus{State: minswv1.NodeState_NODE_STATE_READY},
		}
	}
	return nodes
}

func benchTask(id, service string) *minswv1.Task {
	return &minswv1.Task{
		Id:           id,
		ServiceId:    service,
		Spec:         &minswv1.TaskSpec{},
		Status:       &minswv1.TaskStatus{State: minswv1.TaskState_TASK_STATE_PENDING},
		DesiredState: minswv1.TaskState_TASK_STATE_RUNNING,
	}
}
