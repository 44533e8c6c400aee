package scheduler

import (
	"maps"
	"strings"
	"testing"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

func cpus(n float64, memMiB int64) nodeOpt {
	return func(nd *minswv1.Node) {
		nd.Description.Resources = &minswv1.Resources{NanoCpus: int64(n * 1e9), MemoryBytes: memMiB << 20}
	}
}

func gpus(n int64) nodeOpt {
	return func(nd *minswv1.Node) {
		nd.Description.Resources.Generic = append(nd.Description.Resources.Generic, &minswv1.GenericResource{Kind: "gpu", Value: n})
	}
}

func engineLabel(k, v string) nodeOpt {
	return func(nd *minswv1.Node) {
		if nd.Description.EngineLabels == nil {
			nd.Description.EngineLabels = map[string]string{}
		}
		nd.Description.EngineLabels[k] = v
	}
}

func arch(a string) nodeOpt { return func(nd *minswv1.Node) { nd.Description.Architecture = a } }

func reserve(cpu float64, memMiB int64) func(*minswv1.Task) *minswv1.Task {
	return func(t *minswv1.Task) *minswv1.Task {
		t.Spec.Resources = &minswv1.ResourceRequirements{Reservations: &minswv1.Resources{NanoCpus: int64(cpu * 1e9), MemoryBytes: memMiB << 20}}
		return t
	}
}

func reserveGPU(n int64) func(*minswv1.Task) *minswv1.Task {
	return func(t *minswv1.Task) *minswv1.Task {
		t.Spec.Resources = &minswv1.ResourceRequirements{Reservations: &minswv1.Resources{Generic: []*minswv1.GenericResource{{Kind: "gpu", Value: n}}}}
		return t
	}
}

func maxPerNode(n uint64) func(*minswv1.Task) *minswv1.Task {
	return func(t *minswv1.Task) *minswv1.Task {
		if t.Spec.Placement == nil {
			t.Spec.Placement = &minswv1.Placement{}
		}
		t.Spec.Placement.MaxReplicas = n
		return t
	}
}

func spread(desc ...string) func(*minswv1.Task) *minswv1.Task {
	return func(t *minswv1.Task) *minswv1.Task {
		if t.Spec.Placement == nil {
			t.Spec.Placement = &minswv1.Placement{}
		}
		for _, d := range desc {
			t.Spec.Placement.Preferences = append(t.Spec.Placement.Preferences, &minswv1.PlacementPreference{SpreadDescriptor: d})
		}
		return t
	}
}

// replicas makes n pending tasks svc.1..svc.n, each changed by opts.
func replicas(svc string, n int, opts ...func(*minswv1.Task) *minswv1.Task) []*minswv1.Task {
	var out []*minswv1.Task
	for i := 1; i <= n; i++ {
		t := pendingTask(svc+"."+string(rune('0'+i/10))+string(rune('0'+i%10)), svc)
		for _, o := range opts {
			t = o(t)
		}
		out = append(out, t)
	}
	return out
}

func perNode(plan Plan) map[string]int {
	m := map[string]int{}
	for _, d := range plan.Decisions {
		if d.Placed() {
			m[d.NodeID]++
		}
	}
	return m
}

func TestBoundedSpread(t *testing.T) {
	three2CPU := func(opts ...nodeOpt) []*minswv1.Node {
		return []*minswv1.Node{
			node("n1", "swarm-manager", append([]nodeOpt{cpus(2, 1024)}, opts...)...),
			node("n2", "swarm-worker1", append([]nodeOpt{cpus(2, 1024)}, opts...)...),
			node("n3", "swarm-worker2", append([]nodeOpt{cpus(2, 1024)}, opts...)...),
		}
	}
	zones := []*minswv1.Node{
		node("n1", "a1", label("zone", "a")),
		node("n2", "a2", label("zone", "a")),
		node("n3", "a3", label("zone", "a")),
		node("n4", "b1", label("zone", "b")),
		node("n5", "nolabel"),
	}
	tests := []struct {
		name     string
		nodes    []*minswv1.Node
		existing []*minswv1.Task
		pending  []*minswv1.Task
		perNode  map[string]int
		unplaced int
		reason   string
	}{
		{
			name:    "--reserve-cpu 1 fills three 2-CPU nodes with six tasks",
			nodes:   three2CPU(),
			pending: replicas("web", 6, reserve(1, 0)),
			perNode: map[string]int{"n1": 2, "n2": 2, "n3": 2},
		},
		{
			name:     "a seventh 1-CPU task finds no room: insufficient resources on 3 nodes",
			nodes:    three2CPU(),
			pending:  replicas("web", 7, reserve(1, 0)),
			perNode:  map[string]int{"n1": 2, "n2": 2, "n3": 2},
			unplaced: 1, reason: "no suitable node (insufficient resources on 3 nodes)",
		},
		{
			name:     "--reserve-memory larger than any node: swarmkit's message",
			nodes:    three2CPU(),
			pending:  replicas("web", 2, reserve(0, 4096)),
			unplaced: 2, reason: "no suitable node (insufficient resources on 3 nodes)",
		},
		{
			name:     "running tasks hold their reservations",
			nodes:    three2CPU(),
			existing: []*minswv1.Task{reserve(2, 0)(runningTask("db.1", "db", "n1")), reserve(2, 0)(runningTask("db.2", "db", "n2"))},
			pending:  replicas("web", 2, reserve(1, 0)),
			perNode:  map[string]int{"n3": 2},
		},
		{
			name:     "nodes that report no resources take no reservation",
			nodes:    nodes3(),
			pending:  replicas("web", 1, reserve(0.5, 0)),
			unplaced: 1, reason: "no suitable node (insufficient resources on 3 nodes)",
		},
		{
			name:    "--generic-resource gpu=1 goes to the node with gpus",
			nodes:   []*minswv1.Node{node("n1", "a", cpus(2, 1024)), node("n2", "b", cpus(2, 1024), gpus(2))},
			pending: replicas("train", 2, reserveGPU(1)),
			perNode: map[string]int{"n2": 2},
		},
		{
			name:     "--replicas-max-per-node 1 with four replicas on three nodes leaves one pending",
			nodes:    nodes3(),
			pending:  replicas("web", 4, maxPerNode(1)),
			perNode:  map[string]int{"n1manager": 1, "n2worker1": 1, "n3worker2": 1},
			unplaced: 1, reason: "no suitable node (max replicas per node limit exceed on 3 nodes)",
		},
		{
			name:     "--replicas-max-per-node 2 counts the tasks already running",
			nodes:    nodes3(),
			existing: []*minswv1.Task{runningTask("web.a", "web", "n1manager"), runningTask("web.b", "web", "n1manager")},
			pending:  replicas("web", 4, maxPerNode(2)),
			perNode:  map[string]int{"n2worker1": 2, "n3worker2": 2},
		},
		{
			name:    "--placement-pref spread=node.labels.zone splits tasks evenly by zone, not by node",
			nodes:   zones,
			pending: replicas("web", 6, spread("node.labels.zone")),
			// zones a, b and "no label" get two each; zone a's two go to two of its three nodes
			perNode: map[string]int{"n1": 1, "n2": 1, "n4": 2, "n5": 2},
		},
		{
			name:     "a zone that already runs tasks gets the new ones last",
			nodes:    zones[:4],
			existing: []*minswv1.Task{runningTask("web.a", "web", "n4"), runningTask("web.b", "web", "n4")},
			pending:  replicas("web", 4, spread("node.labels.zone")),
			perNode:  map[string]int{"n1": 1, "n2": 1, "n3": 1, "n4": 1},
		},
		{
			name: "two preferences nest: zone first, then rack",
			nodes: []*minswv1.Node{
				node("n1", "a", label("zone", "a"), label("rack", "1")),
				node("n2", "b", label("zone", "a"), label("rack", "1")),
				node("n3", "c", label("zone", "a"), label("rack", "2")),
				node("n4", "d", label("zone", "b"), label("rack", "1")),
			},
			pending: replicas("web", 4, spread("node.labels.zone", "node.labels.rack")),
			perNode: map[string]int{"n1": 1, "n3": 1, "n4": 2},
		},
		{
			name:    "spread preference with reservations stops at capacity",
			nodes:   []*minswv1.Node{node("n1", "a", label("zone", "a"), cpus(1, 512)), node("n2", "b", label("zone", "b"), cpus(4, 512))},
			pending: replicas("web", 4, spread("node.labels.zone"), reserve(1, 0)),
			perNode: map[string]int{"n1": 1, "n2": 3},
		},
		{
			name:    "constraint on engine.labels (daemon --label)",
			nodes:   []*minswv1.Node{node("n1", "a"), node("n2", "b", engineLabel("storage", "ssd"))},
			pending: []*minswv1.Task{pendingTask("db.1", "db", "engine.labels.storage==ssd"), pendingTask("db.2", "db", "engine.labels.storage==ssd")},
			perNode: map[string]int{"n2": 2},
		},
		{
			name:    "constraint on node.platform.arch",
			nodes:   []*minswv1.Node{node("n1", "a", arch("aarch64")), node("n2", "b")},
			pending: []*minswv1.Task{pendingTask("web.1", "web", "node.platform.arch==x86_64"), pendingTask("web.2", "web", "node.platform.os==linux", "node.platform.arch!=x86_64")},
			perNode: map[string]int{"n1": 1, "n2": 1},
		},
		{
			name:    "constraint on node.id",
			nodes:   nodes3(),
			pending: []*minswv1.Task{pendingTask("web.1", "web", "node.id==n2worker1")},
			perNode: map[string]int{"n2worker1": 1},
		},
	}
	var reused Scheduler
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, plan := range []Plan{Schedule(tc.nodes, tc.existing, tc.pending), reused.Schedule(tc.nodes, tc.existing, tc.pending)} {
				want := tc.perNode
				if want == nil {
					want = map[string]int{}
				}
				if got := perNode(plan); !maps.Equal(got, want) {
					t.Errorf("tasks per node %v, want %v", got, want)
				}
				un := plan.Unplaced()
				if len(un) != tc.unplaced {
					t.Errorf("%d unplaced (%v), want %d", len(un), un, tc.unplaced)
				}
				for _, r := range un {
					if r != tc.reason {
						t.Errorf("reason %q, want %q", r, tc.reason)
					}
				}
			}
		})
	}
}

func TestParsePreferences(t *testing.T) {
	for _, ok := range []string{"node.labels.zone", "engine.labels.dc", "node.platform.arch", "node.hostname"} {
		if _, err := ParsePreferences([]*minswv1.PlacementPreference{{SpreadDescriptor: ok}}); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "zone", "node.labels.", "labels.zone"} {
		_, err := ParsePreferences([]*minswv1.PlacementPreference{{SpreadDescriptor: bad}})
		if err == nil || !strings.Contains(err.Error(), "placement preference") {
			t.Errorf("%q: %v, want an error naming the placement preference", bad, err)
		}
	}
}

// BenchmarkScheduler1kNodes100kTasksReservationsSpread is the pure
// placement of the figure: 100,000 tasks reserving 0.1 CPU and
// 64 MiB, spread over ten zones of 1,000 nodes of 64 CPUs and 256 GiB.
func BenchmarkScheduler1kNodes100kTasksReservationsSpread(b *testing.B) {
	nodes := benchNodes(1_000)
	for i, n := range nodes {
		n.Spec.Labels = map[string]string{"zone": "zone" + string(rune('0'+i%10))}
		n.Description.Resources = &minswv1.Resources{NanoCpus: 64e9, MemoryBytes: 256 << 30}
	}
	pending := make([]*minswv1.Task, 0, 100_000)
	for i := range 100_000 {
		t := benchTask("task"+strings.Repeat("x", i%3)+string(rune(i)), "service1")
		t.Spec.Resources = &minswv1.ResourceRequirements{Reservations: &minswv1.Resources{NanoCpus: 1e8, MemoryBytes: 64 << 20}}
		t.Spec.Placement = &minswv1.Placement{Preferences: []*minswv1.PlacementPreference{{SpreadDescriptor: "node.labels.zone"}}}
		pending = append(pending, t)
	}
	var s Scheduler
	runBench(b, len(pending), func() Plan { return s.Schedule(nodes, nil, pending) })
}
