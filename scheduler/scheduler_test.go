package scheduler

import (
	"maps"
	"testing"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

func TestSchedule(t *testing.T) {
	type tasks = []*minswv1.Task
	tests := []struct {
		name     string
		nodes    []*minswv1.Node
		existing tasks
		pending  tasks
		placed   map[string]string // task ID → node ID
		unplaced map[string]string // task ID → reason
	}{
		{
			name:    "two replicas spread over two workers",
			nodes:   []*minswv1.Node{node("w1", "swarm-worker1"), node("w2", "swarm-worker2")},
			pending: tasks{pendingTask("web.1", "web"), pendingTask("web.2", "web")},
			placed:  map[string]string{"web.1": "w1", "web.2": "w2"},
		},
		{
			name:  "the seed: web on two nodes, client on the third",
			nodes: nodes3(),
			pending: tasks{
				pendingTask("web.1", "web"), pendingTask("web.2", "web"),
				pendingTask("client.1", "client"),
			},
			placed: map[string]string{"web.1": "n1manager", "web.2": "n2worker1", "client.1": "n3worker2"},
		},
		{
			name:    "more replicas than nodes wrap around evenly",
			nodes:   []*minswv1.Node{node("w1", "a"), node("w2", "b")},
			pending: tasks{pendingTask("t1", "s"), pendingTask("t2", "s"), pendingTask("t3", "s"), pendingTask("t4", "s")},
			placed:  map[string]string{"t1": "w1", "t2": "w2", "t3": "w1", "t4": "w2"},
		},
		{
			name:    "drained node gets nothing",
			nodes:   []*minswv1.Node{node("w1", "swarm-worker1", drained), node("w2", "swarm-worker2")},
			pending: tasks{pendingTask("web.1", "web"), pendingTask("web.2", "web")},
			placed:  map[string]string{"web.1": "w2", "web.2": "w2"},
		},
		{
			name:    "paused node gets nothing",
			nodes:   []*minswv1.Node{node("w1", "swarm-worker1", paused), node("w2", "swarm-worker2")},
			pending: tasks{pendingTask("web.1", "web")},
			placed:  map[string]string{"web.1": "w2"},
		},
		{
			name:    "down node gets nothing",
			nodes:   []*minswv1.Node{node("w1", "swarm-worker1", down), node("w2", "swarm-worker2")},
			pending: tasks{pendingTask("web.1", "web"), pendingTask("web.2", "web")},
			placed:  map[string]string{"web.1": "w2", "web.2": "w2"},
		},
		{
			name:     "only node drained explains why",
			nodes:    []*minswv1.Node{node("w1", "swarm-worker1", drained)},
			pending:  tasks{pendingTask("web.1", "web")},
			unplaced: map[string]string{"web.1": "no suitable node (1 node not available for new tasks)"},
		},
		{
			name:     "all nodes down says they are not ready",
			nodes:    []*minswv1.Node{node("w1", "a", down), node("w2", "b", down, drained)},
			pending:  tasks{pendingTask("web.1", "web")},
			unplaced: map[string]string{"web.1": "no suitable node (2 nodes not ready)"},
		},
		{
			name:     "empty swarm has no suitable node",
			pending:  tasks{pendingTask("web.1", "web")},
			unplaced: map[string]string{"web.1": "no suitable node"},
		},
		{
			name:    "constraint on hostname",
			nodes:   nodes3(),
			pending: tasks{pendingTask("web.1", "web", "node.hostname==swarm-worker2"), pendingTask("web.2", "web", "node.hostname==swarm-worker2")},
			placed:  map[string]string{"web.1": "n3worker2", "web.2": "n3worker2"},
		},
		{
			name:    "hostname constraint ignores case as Swarm does",
			nodes:   nodes3(),
			pending: tasks{pendingTask("web.1", "web", "node.hostname==SWARM-Worker1")},
			placed:  map[string]string{"web.1": "n2worker1"},
		},
		{
			name:    "constraint on node id",
			nodes:   nodes3(),
			pending: tasks{pendingTask("web.1", "web", "node.id==n2worker1")},
			placed:  map[string]string{"web.1": "n2worker1"},
		},
		{
			name:    "manager-only constraint",
			nodes:   nodes3(),
			pending: tasks{pendingTask("web.1", "web", "node.role==manager"), pendingTask("web.2", "web", "node.role==manager")},
			placed:  map[string]string{"web.1": "n1manager", "web.2": "n1manager"},
		},
		{
			name:    "workers-only constraint keeps tasks off the manager",
			nodes:   nodes3(),
			pending: tasks{pendingTask("web.1", "web", "node.role!=manager"), pendingTask("web.2", "web", "node.role!=manager")},
			placed:  map[string]string{"web.1": "n2worker1", "web.2": "n3worker2"},
		},
		{
			name: "label constraint picks the labelled node",
			nodes: []*minswv1.Node{
				node("w1", "a", label("region", "east")),
				node("w2", "b", label("region", "west")),
			},
			pending: tasks{pendingTask("web.1", "web", "node.labels.region==west")},
			placed:  map[string]string{"web.1": "w2"},
		},
		{
			name:     "label constraint with no match explains why",
			nodes:    nodes3(),
			pending:  tasks{pendingTask("web.1", "web", "node.labels.ssd==true"), pendingTask("web.2", "web", "node.labels.ssd==true")},
			unplaced: map[string]string{"web.1": "no suitable node (scheduling constraints not satisfied on 3 nodes)", "web.2": "no suitable node (scheduling constraints not satisfied on 3 nodes)"},
		},
		{
			name:    "label != matches nodes without the label",
			nodes:   []*minswv1.Node{node("w1", "a", label("gpu", "yes")), node("w2", "b")},
			pending: tasks{pendingTask("web.1", "web", "node.labels.gpu!=yes")},
			placed:  map[string]string{"web.1": "w2"},
		},
		{
			name:  "all constraints must hold",
			nodes: []*minswv1.Node{node("w1", "a", label("zone", "1")), node("w2", "b", label("zone", "1"), manager), node("w3", "c", label("zone", "2"))},
			pending: tasks{
				pendingTask("web.1", "web", "node.labels.zone==1", "node.role==worker"),
				pendingTask("web.2", "web", "node.labels.zone==1", "node.role==worker"),
			},
			placed: map[string]string{"web.1": "w1", "web.2": "w1"},
		},
		{
			name:    "engine labels are not reported, so == never matches",
			nodes:   []*minswv1.Node{node("w1", "a")},
			pending: tasks{pendingTask("web.1", "web", "engine.labels.storage==ssd")},
			unplaced: map[string]string{
				"web.1": "no suitable node (scheduling constraints not satisfied on 1 node)",
			},
		},
		{
			name:    "platform constraint",
			nodes:   []*minswv1.Node{node("w1", "a")},
			pending: tasks{pendingTask("web.1", "web", "node.platform.os==linux", "node.platform.arch==x86_64")},
			placed:  map[string]string{"web.1": "w1"},
		},
		{
			name: "mixed refusals are explained most frequent first",
			nodes: []*minswv1.Node{
				node("w1", "a"), node("w2", "b"), node("w3", "c", drained), node("w4", "d", down),
			},
			pending: tasks{pendingTask("web.1", "web", "node.role==manager")},
			unplaced: map[string]string{
				"web.1": "no suitable node (scheduling constraints not satisfied on 2 nodes; 1 node not ready; 1 node not available for new tasks)",
			},
		},
		{
			name:     "third replica goes to the least loaded node",
			nodes:    nodes3(),
			existing: tasks{runningTask("web.1", "web", "n1manager"), runningTask("web.2", "web", "n2worker1")},
			pending:  tasks{pendingTask("web.3", "web")},
			placed:   map[string]string{"web.3": "n3worker2"},
		},
		{
			name:     "replica avoids the node busy with another service",
			nodes:    nodes3(),
			existing: tasks{runningTask("client.1", "client", "n1manager"), runningTask("db.1", "db", "n2worker1")},
			pending:  tasks{pendingTask("web.1", "web")},
			placed:   map[string]string{"web.1": "n3worker2"},
		},
		{
			name:  "fewest tasks of the service beats fewest tasks overall",
			nodes: []*minswv1.Node{node("w1", "a"), node("w2", "b")},
			existing: tasks{
				runningTask("web.1", "web", "w1"),
				runningTask("db.1", "db", "w2"), runningTask("db.2", "db", "w2"), runningTask("db.3", "db", "w2"),
			},
			pending: tasks{pendingTask("web.2", "web")},
			placed:  map[string]string{"web.2": "w2"},
		},
		{
			name:  "finished tasks do not count",
			nodes: []*minswv1.Node{node("w1", "a"), node("w2", "b")},
			existing: tasks{
				withState(runningTask("web.1", "web", "w1"), minswv1.TaskState_TASK_STATE_FAILED),
				withState(runningTask("web.2", "web", "w1"), minswv1.TaskState_TASK_STATE_SHUTDOWN),
				runningTask("web.3", "web", "w2"),
			},
			pending: tasks{pendingTask("web.4", "web")},
			placed:  map[string]string{"web.4": "w1"},
		},
		{
			name:     "tasks on a node that left the swarm do not count",
			nodes:    []*minswv1.Node{node("w1", "a"), node("w2", "b")},
			existing: tasks{runningTask("web.1", "web", "gone")},
			pending:  tasks{pendingTask("web.2", "web")},
			placed:   map[string]string{"web.2": "w1"},
		},
		{
			name:    "ties go to the smallest node ID whatever the input order",
			nodes:   []*minswv1.Node{node("zz", "a"), node("mm", "b"), node("aa", "c")},
			pending: tasks{pendingTask("web.1", "web")},
			placed:  map[string]string{"web.1": "aa"},
		},
		{
			name:    "global task stays on its node",
			nodes:   nodes3(),
			pending: tasks{globalTask("agent.a", "agent", "n1manager"), globalTask("agent.b", "agent", "n2worker1"), globalTask("agent.c", "agent", "n3worker2")},
			placed:  map[string]string{"agent.a": "n1manager", "agent.b": "n2worker1", "agent.c": "n3worker2"},
		},
		{
			name:     "global task on a drained node is refused",
			nodes:    []*minswv1.Node{node("w1", "a", drained)},
			pending:  tasks{globalTask("agent.a", "agent", "w1")},
			unplaced: map[string]string{"agent.a": "no suitable node (1 node not available for new tasks)"},
		},
		{
			name:    "global task whose node breaks the constraint is refused",
			nodes:   nodes3(),
			pending: tasks{globalTask("agent.a", "agent", "n1manager", "node.role==worker"), globalTask("agent.b", "agent", "n2worker1", "node.role==worker")},
			placed:  map[string]string{"agent.b": "n2worker1"},
			unplaced: map[string]string{
				"agent.a": "no suitable node (scheduling constraints not satisfied on 1 node)",
			},
		},
		{
			name:     "global task on a node that left is refused",
			nodes:    nodes3(),
			pending:  tasks{globalTask("agent.a", "agent", "gone")},
			unplaced: map[string]string{"agent.a": "no suitable node (node gone not found)"},
		},
		{
			name:    "global tasks in the batch count towards the spread",
			nodes:   []*minswv1.Node{node("w1", "a"), node("w2", "b")},
			pending: tasks{pendingTask("web.1", "web"), globalTask("agent.a", "agent", "w1")},
			placed:  map[string]string{"web.1": "w2", "agent.a": "w1"},
		},
		{
			name:     "task with a bad constraint says so",
			nodes:    nodes3(),
			pending:  tasks{pendingTask("web.1", "web", "node.hostname=swarm-worker1")},
			unplaced: map[string]string{"web.1": `no suitable node (invalid constraint "node.hostname=swarm-worker1": operator must be == or !=)`},
		},
		{
			name:  "rolling update with a new constraint places each version by its own",
			nodes: nodes3(),
			existing: tasks{
				runningTask("web.1", "web", "n1manager"),
			},
			pending: tasks{
				withVersion(pendingTask("web.2", "web"), 1),
				withVersion(pendingTask("web.3", "web", "node.role==manager"), 2),
			},
			placed: map[string]string{"web.2": "n2worker1", "web.3": "n1manager"},
		},
		{
			name:    "tasks of two services interleaved in the batch",
			nodes:   []*minswv1.Node{node("w1", "a"), node("w2", "b")},
			pending: tasks{pendingTask("a.1", "a"), pendingTask("b.1", "b"), pendingTask("a.2", "a"), pendingTask("b.2", "b")},
			placed:  map[string]string{"a.1": "w1", "a.2": "w2", "b.1": "w1", "b.2": "w2"},
		},
		{
			// Spread alone would put both on w1: w2 already runs web.1, from
			// before the port was published.
			name:     "two host-mode replicas go to two nodes",
			nodes:    []*minswv1.Node{node("w1", "a"), node("w2", "b")},
			existing: tasks{runningTask("web.1", "web", "w2")},
			pending: tasks{
				publishHost(tcp, 80)(withVersion(pendingTask("web.2", "web"), 2)),
				publishHost(tcp, 80)(withVersion(pendingTask("web.3", "web"), 2)),
			},
			placed: map[string]string{"web.2": "w1", "web.3": "w2"},
		},
		{
			name:    "a third host-mode replica with only two nodes waits and says why",
			nodes:   []*minswv1.Node{node("w1", "a"), node("w2", "b")},
			pending: tasks{publishHost(tcp, 80)(pendingTask("web.1", "web")), publishHost(tcp, 80)(pendingTask("web.2", "web")), publishHost(tcp, 80)(pendingTask("web.3", "web"))},
			placed:  map[string]string{"web.1": "w1", "web.2": "w2"},
			unplaced: map[string]string{
				"web.3": "no suitable node (host-mode port already in use on 2 nodes)",
			},
		},
		{
			name:  "host-mode replicas that outnumber the nodes say every refusal",
			nodes: []*minswv1.Node{node("w1", "a"), node("w2", "b", drained), node("w3", "c")},
			existing: tasks{
				publishHost(tcp, 80)(runningTask("web.1", "web", "w1")),
			},
			pending: tasks{publishHost(tcp, 80)(pendingTask("web.2", "web")), publishHost(tcp, 80)(pendingTask("web.3", "web"))},
			placed:  map[string]string{"web.2": "w3"},
			unplaced: map[string]string{
				"web.3": "no suitable node (host-mode port already in use on 2 nodes; 1 node not available for new tasks)",
			},
		},
		{
			name:  "host port held by another service's task refuses the node",
			nodes: []*minswv1.Node{node("w1", "a"), node("w2", "b")},
			existing: tasks{
				publishHost(tcp, 80)(runningTask("proxy.1", "proxy", "w1")),
				runningTask("db.1", "db", "w2"), runningTask("db.2", "db", "w2"),
			},
			pending: tasks{publishHost(tcp, 80)(pendingTask("web.1", "web"))},
			placed:  map[string]string{"web.1": "w2"},
		},
		{
			name:     "host port held on the only node says why",
			nodes:    []*minswv1.Node{node("w1", "a")},
			existing: tasks{publishHost(tcp, 80)(withState(runningTask("proxy.1", "proxy", "w1"), minswv1.TaskState_TASK_STATE_ASSIGNED))},
			pending:  tasks{publishHost(tcp, 80)(pendingTask("web.1", "web"))},
			unplaced: map[string]string{"web.1": "no suitable node (host-mode port already in use on 1 node)"},
		},
		{
			name:     "a finished task frees its host port",
			nodes:    []*minswv1.Node{node("w1", "a")},
			existing: tasks{publishHost(tcp, 80)(withState(runningTask("web.1", "web", "w1"), minswv1.TaskState_TASK_STATE_FAILED))},
			pending:  tasks{publishHost(tcp, 80)(pendingTask("web.2", "web"))},
			placed:   map[string]string{"web.2": "w1"},
		},
		{
			name:  "host port taken earlier in the batch by another service",
			nodes: []*minswv1.Node{node("w1", "a"), node("w2", "b")},
			pending: tasks{
				publishHost(tcp, 80)(pendingTask("web.1", "web")), publishHost(tcp, 80)(pendingTask("web.2", "web")),
				publishHost(tcp, 80)(pendingTask("proxy.1", "proxy")),
				publishHost(tcp, 81)(pendingTask("api.1", "api")),
			},
			placed: map[string]string{"web.1": "w1", "web.2": "w2", "api.1": "w1"},
			unplaced: map[string]string{
				"proxy.1": "no suitable node (host-mode port already in use on 2 nodes)",
			},
		},
		{
			name:  "rolling update waits for the old task to free its host port",
			nodes: []*minswv1.Node{node("w1", "a"), node("w2", "b")},
			existing: tasks{
				publishHost(tcp, 80)(withVersion(runningTask("web.1", "web", "w1"), 1)),
			},
			pending: tasks{
				publishHost(tcp, 80)(withVersion(pendingTask("web.2", "web"), 1)),
				publishHost(tcp, 80)(withVersion(pendingTask("web.3", "web"), 2)),
			},
			placed: map[string]string{"web.2": "w2"},
			unplaced: map[string]string{
				"web.3": "no suitable node (host-mode port already in use on 2 nodes)",
			},
		},
		{
			name:     "ingress-mode ports don't restrict placement",
			nodes:    []*minswv1.Node{node("w1", "a"), node("w2", "b")},
			existing: tasks{publishIngress(80)(runningTask("proxy.1", "proxy", "w1"))},
			pending:  tasks{publishIngress(80)(pendingTask("web.1", "web")), publishIngress(80)(pendingTask("web.2", "web")), publishIngress(80)(pendingTask("web.3", "web"))},
			placed:   map[string]string{"web.1": "w2", "web.2": "w1", "web.3": "w2"},
		},
		{
			name:     "host-mode port left for the engine to pick doesn't restrict placement",
			nodes:    []*minswv1.Node{node("w1", "a")},
			existing: tasks{publishHost(tcp, 0)(runningTask("web.1", "web", "w1"))},
			pending:  tasks{publishHost(tcp, 0)(pendingTask("web.2", "web"))},
			placed:   map[string]string{"web.2": "w1"},
		},
		{
			name:     "different protocol same number is fine",
			nodes:    []*minswv1.Node{node("w1", "a")},
			existing: tasks{publishHost(udp, 53)(runningTask("dns.1", "dns", "w1"))},
			pending:  tasks{publishHost(tcp, 53)(pendingTask("dnstcp.1", "dnstcp"))},
			placed:   map[string]string{"dnstcp.1": "w1"},
		},
		{
			name:     "global task on a node whose host port is taken is refused",
			nodes:    []*minswv1.Node{node("w1", "a"), node("w2", "b")},
			existing: tasks{publishHost(tcp, 9100)(runningTask("other.1", "other", "w1"))},
			pending: tasks{
				publishHost(tcp, 9100)(globalTask("agent.a", "agent", "w1")),
				publishHost(tcp, 9100)(globalTask("agent.b", "agent", "w2")),
				publishHost(tcp, 9100)(globalTask("agent.c", "agent", "w2")),
			},
			placed: map[string]string{"agent.b": "w2"},
			unplaced: map[string]string{
				"agent.a": "no suitable node (host-mode port already in use on 1 node)",
				"agent.c": "no suitable node (host-mode port already in use on 1 node)",
			},
		},
		{
			name:  "global task's host port keeps replicas of the batch off its node",
			nodes: []*minswv1.Node{node("w1", "a"), node("w2", "b")},
			pending: tasks{
				publishHost(tcp, 80)(pendingTask("web.1", "web")),
				publishHost(tcp, 80)(globalTask("agent.a", "agent", "w1")),
			},
			placed: map[string]string{"web.1": "w2", "agent.a": "w1"},
		},
	}
	var reused Scheduler
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, run := range []struct {
				name string
				plan func() Plan
			}{
				{"fresh", func() Plan { return Schedule(tc.nodes, tc.existing, tc.pending) }},
				{"reused", func() Plan { return reused.Schedule(tc.nodes, tc.existing, tc.pending) }},
			} {
				plan := run.plan()
				if len(plan.Decisions) != len(tc.pending) {
					t.Fatalf("%s: %d decisions for %d tasks", run.name, len(plan.Decisions), len(tc.pending))
				}
				for i, d := range plan.Decisions {
					if d.TaskID != tc.pending[i].GetId() {
						t.Errorf("%s: decision %d is for %q, want %q", run.name, i, d.TaskID, tc.pending[i].GetId())
					}
					if d.Placed() == (d.Reason != "") {
						t.Errorf("%s: decision %+v must have a node or a reason", run.name, d)
					}
				}
				want := tc.placed
				if want == nil {
					want = map[string]string{}
				}
				if got := plan.Assignments(); !maps.Equal(got, want) {
					t.Errorf("%s: placed %v, want %v", run.name, got, want)
				}
				wantU := tc.unplaced
				if wantU == nil {
					wantU = map[string]string{}
				}
				if got := plan.Unplaced(); !maps.Equal(got, wantU) {
					t.Errorf("%s: unplaced %v, want %v", run.name, got, wantU)
				}
			}
		})
	}
}

func TestScheduleDoesNotModifyItsInput(t *testing.T) {
	nodes := nodes3()
	pending := []*minswv1.Task{pendingTask("web.1", "web"), globalTask("agent.a", "agent", "n1manager")}
	existing := []*minswv1.Task{runningTask("db.1", "db", "n2worker1")}
	before := func() string {
		s := ""
		for _, n := range nodes {
			s += n.String()
		}
		for _, t := range append(append([]*minswv1.Task{}, pending...), existing...) {
			s += t.String()
		}
		return s
	}
	b := before()
	order := []string{nodes[0].Id, nodes[1].Id, nodes[2].Id}
	Schedule(nodes, existing, pending)
	if before() != b {
		t.Fatal("Schedule changed the objects it was given")
	}
	for i, n := range nodes {
		if n.Id != order[i] {
			t.Fatal("Schedule reordered the caller's node slice")
		}
	}
}

func TestNoPendingTasksIsAnEmptyPlan(t *testing.T) {
	if plan := Schedule(nodes3(), nil, nil); len(plan.Decisions) != 0 {
		t.Fatalf("got %d decisions", len(plan.Decisions))
	}
}

func TestReusedSchedulerSeesNodeChanges(t *testing.T) {
	var s Scheduler
	nodes := []*minswv1.Node{node("w1", "a"), node("w2", "b")}
	web := []*minswv1.Task{pendingTask("web.1", "web")}
	if got := s.Schedule(nodes, nil, web).Decisions[0].NodeID; got != "w1" {
		t.Fatalf("first call placed on %q, want w1", got)
	}

	// The store replaces an updated node with a new object.
	nodes = []*minswv1.Node{node("w1", "a", drained), nodes[1]}
	if got := s.Schedule(nodes, nil, web).Decisions[0].NodeID; got != "w2" {
		t.Fatalf("after drain placed on %q, want w2", got)
	}

	// A node that joins is a new member of the set.
	nodes = append(nodes, node("w0", "c"))
	if got := s.Schedule(nodes, nil, web).Decisions[0].NodeID; got != "w0" {
		t.Fatalf("after join placed on %q, want w0", got)
	}

	// Even an in-place change is seen: filters run on every call.
	nodes[2].Status.State = minswv1.NodeState_NODE_STATE_DOWN
	if got := s.Schedule(nodes, nil, web).Decisions[0].NodeID; got != "w2" {
		t.Fatalf("after w0 went down placed on %q, want w2", got)
	}
}
