package scheduler

import (
	"fmt"
	"math/rand/v2"
	"testing"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// TestSpreadMatchesTheRuleTaskByTask checks the heap against the rule stated
// plainly: for each task in turn, scan every eligible node and take the one
// with the fewest tasks of the service, then overall, then the smallest ID.
// In some rounds services a and b publish one host-mode port, so nodes leave
// the heap as they take a task.
func TestSpreadMatchesTheRuleTaskByTask(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var s Scheduler
	for round := 0; round < 200; round++ {
		var nodes []*minswv1.Node
		for i := range 1 + rng.IntN(12) {
			var opts []nodeOpt
			switch rng.IntN(6) {
			case 0:
				opts = append(opts, drained)
			case 1:
				opts = append(opts, label("zone", "a"))
			}
			nodes = append(nodes, node(fmt.Sprintf("n%02d", rng.IntN(100)*100+i), "h"))
			for _, o := range opts {
				o(nodes[len(nodes)-1])
			}
		}
		services := []string{"a", "b", "c"}
		ports := map[string]func(*minswv1.Task) *minswv1.Task{}
		if rng.IntN(2) == 0 {
			ports["a"] = publishHost(tcp, 80)
			ports["b"] = publishHost(tcp, 80)
		}
		withPorts := func(t *minswv1.Task) *minswv1.Task {
			if f := ports[t.ServiceId]; f != nil {
				return f(t)
			}
			return t
		}
		var existing, pending []*minswv1.Task
		for i := range rng.IntN(30) {
			n := nodes[rng.IntN(len(nodes))]
			existing = append(existing, runningTask(fmt.Sprintf("e%d", i), services[rng.IntN(3)], n.Id))
		}
		for i := range rng.IntN(40) {
			var cs []string
			svc := services[rng.IntN(3)]
			if svc == "c" {
				cs = []string{"node.labels.zone==a"}
			}
			pending = append(pending, withPorts(pendingTask(fmt.Sprintf("p%d", i), svc, cs...)))
		}

		got := s.Schedule(nodes, existing, pending)
		want := naiveSchedule(nodes, existing, pending)
		for i := range pending {
			if got.Decisions[i] != want[i] {
				t.Fatalf("round %d task %s: got %+v, want %+v", round, pending[i].Id, got.Decisions[i], want[i])
			}
		}
	}
}

// naiveSchedule is the O(T·N) statement of the spread rule, for tasks without
// a preset node, grouped by service in first-appearance order as Schedule
// documents it.
func naiveSchedule(nodes []*minswv1.Node, existing, pending []*minswv1.Task) []Decision {
	total := map[string]int{}
	svc := map[[2]string]int{}
	var held hostPortsIn
	for _, t := range existing {
		total[t.NodeId]++
		svc[[2]string{t.ServiceId, t.NodeId}]++
		held.hold(t.NodeId, appendHostPorts(nil, t))
	}
	var order []string
	seen := map[string]bool{}
	for _, t := range pending {
		if !seen[t.ServiceId] {
			seen[t.ServiceId] = true
			order = append(order, t.ServiceId)
		}
	}
	out := make([]Decision, len(pending))
	for _, service := range order {
		for i, t := range pending {
			if t.ServiceId != service {
				continue
			}
			out[i].TaskID = t.Id
			cs, _ := ParseConstraints(t.GetSpec().GetPlacement().GetConstraints())
			ports := appendHostPorts(nil, t)
			var best *minswv1.Node
			var p pipeline
			p.reset(cs, ports, &held)
			for _, n := range nodes {
				if p.check(n) >= 0 {
					continue
				}
				if best == nil {
					best = n
					continue
				}
				a, b := [3]int{svc[[2]string{service, n.Id}], total[n.Id]}, [3]int{svc[[2]string{service, best.Id}], total[best.Id]}
				if a[0] < b[0] || a[0] == b[0] && (a[1] < b[1] || a[1] == b[1] && n.Id < best.Id) {
					best = n
				}
			}
			if best == nil {
				out[i].Reason = p.explain()
				continue
			}
			out[i].NodeID = best.Id
			held.hold(best.Id, ports)
			total[best.Id]++
			svc[[2]string{service, best.Id}]++
		}
	}
	return out
}
