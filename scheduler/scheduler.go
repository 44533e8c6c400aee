package scheduler

import (
	"slices"
	"strings"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// Schedule places pending tasks on nodes; see Scheduler.Schedule. It is the
// one-shot form: a caller that schedules again and again should keep a
// Scheduler, which reuses its working memory.
func Schedule(nodes []*minswv1.Node, existing, pending []*minswv1.Task) Plan {
	var s Scheduler
	return s.Schedule(nodes, existing, pending)
}

// Scheduler holds working memory reused from one Schedule call to the next,
// so a leader scheduling every few milliseconds does not churn the heap: once
// warm, a call allocates only the Plan it returns. It keeps the last node set
// (and so references to those nodes) until the next call. The zero value is
// ready to use; it is not safe for concurrent use.
type Scheduler struct {
	input    []*minswv1.Node  // the node set last indexed, to skip re-indexing it
	refs     []nodeRef        // scratch for sorting
	byRank   []*minswv1.Node  // nodes sorted by ID; a node's index is its rank
	rank     map[string]int32 // node ID → rank
	total    []int32          // per rank: tasks on the node, all services
	svc      []int32          // per rank: tasks of the service being placed
	eligible []int32          // ranks that passed the current group's filters

	base         []int32 // ranks that passed the node-only filters
	baseFailures []int   // their refusals, per node-only filter

	services  []service
	serviceOf map[string]int32 // service ID → index in services
	groups    []group
	groupOf   []int32 // per pending task: its group, or -1 if already decided
	order     []int32 // pending indices, bucketed by group

	held      []held  // tasks of batch services already on nodes
	heldOrder []int32 // rank of each held task, bucketed by service

	hostPorts hostPortsIn // host-mode ports held per node, batch included
	ports     []hostPort  // scratch: one task's host-mode ports

	heap spreadHeap
	pipe pipeline

	free     freeResources // per rank, when the batch has reservations
	needFree bool          // some group of the batch reserves resources
	bounded  boundedSpread // scratch of spreads with preferences or limits
}

type nodeRef struct {
	id   string
	node *minswv1.Node
}

// Schedule decides a node for every pending task.
//
// nodes is the node set snapshot; node IDs must be unique. existing is the
// tasks already in the store, for the spread tallies: a task counts against
// its node while its observed state is assigned through running (the full
// task list may be passed; others, including pending ones, are ignored).
// pending is the batch to place. A pending task whose node_id is already set
// (a global service's task, chosen by the orchestrator) keeps that node if
// the node passes the filters, and is refused with a reason if not. A task
// publishing a host-mode port goes only to a node where no occupying task,
// nor one placed earlier in the batch, holds that port.
//
// Tasks with preset nodes are decided first; then services are spread in the
// order their first task appears in pending, and within a service its groups
// (spec version + constraints) likewise. Tasks are counted as they are
// placed, so a batch spreads as if its tasks had arrived one by one. Nothing
// given is modified.
func (s *Scheduler) Schedule(nodes []*minswv1.Node, existing, pending []*minswv1.Task) Plan {
	plan := Plan{Decisions: make([]Decision, len(pending))}
	for i, t := range pending {
		plan.Decisions[i].TaskID = t.GetId()
	}
	if len(pending) == 0 {
		return plan
	}
	s.indexNodes(nodes)
	s.groupTasks(pending)
	s.countHeld(existing)
	s.placePreset(pending, plan.Decisions)
	s.bucketHeld()
	s.bucketTasks()
	for k := range s.services {
		s.spreadService(int32(k), plan.Decisions)
	}
	return plan
}

// indexNodes sorts the snapshot by ID so that ranks order ties by node ID.
// The leader passes the same node set call after call (store objects are
// immutable, so the same pointers mean the same nodes), and then the sort and
// the ID map are kept: a small batch costs O(N), not O(N log N).
func (s *Scheduler) indexNodes(nodes []*minswv1.Node) {
	if !slices.Equal(s.input, nodes) {
		s.input = append(s.input[:0], nodes...)
		// Sorting (ID, node) pairs reads IDs from one flat slice rather
		// than chasing a pointer into every node at each comparison.
		s.refs = slices.Grow(s.refs[:0], len(nodes))
		for _, n := range nodes {
			s.refs = append(s.refs, nodeRef{n.GetId(), n})
		}
		slices.SortFunc(s.refs, func(a, b nodeRef) int { return strings.Compare(a.id, b.id) })
		s.byRank = slices.Grow(s.byRank[:0], len(nodes))
		if s.rank == nil {
			s.rank = make(map[string]int32, len(nodes))
		}
		clear(s.rank)
		for i, r := range s.refs {
			s.byRank = append(s.byRank, r.node)
			s.rank[r.id] = int32(i)
		}
	}
	s.total = resize(s.total, len(nodes))
	s.svc = resize(s.svc, len(nodes))
	s.filterNodes()
}

// filterNodes runs the filters that depend on the node alone (ready,
// availability) once per call; a group then only runs its own (constraints,
// host ports) over the nodes left, and starts its refusal counts from these.
func (s *Scheduler) filterNodes() {
	s.pipe.reset(nil, nil, nil)
	s.base = slices.Grow(s.base[:0], len(s.byRank))
	for r, n := range s.byRank {
		if s.pipe.check(n) < 0 {
			s.base = append(s.base, int32(r))
		}
	}
	s.baseFailures = append(s.baseFailures[:0], s.pipe.failures...)
}

// placePreset decides the tasks whose node the orchestrator chose, before any
// spreading, so the spread sees them in its tallies.
func (s *Scheduler) placePreset(pending []*minswv1.Task, out []Decision) {
	for i, t := range pending {
		nodeID := t.GetNodeId()
		if nodeID == "" {
			continue
		}
		g := &s.groups[s.groupOf[i]]
		s.groupOf[i] = -1
		if g.err != nil {
			out[i].Reason = invalidReason(g.err)
			continue
		}
		r, ok := s.rank[nodeID]
		if !ok {
			out[i].Reason = noSuitableNode + " (node " + nodeID + " not found)"
			continue
		}
		s.pipe.resetGroup(s, g, &s.hostPorts)
		if f := s.pipe.check(s.byRank[r]); f >= 0 {
			out[i].Reason = s.pipe.explainOne(f)
			continue
		}
		out[i].NodeID = s.byRank[r].GetId()
		if g.res.any() {
			s.free.take(r, g.res)
		}
		s.hostPorts.hold(out[i].NodeID, g.ports)
		s.total[r]++
		s.held = append(s.held, held{g.service, r})
	}
}

func invalidReason(err error) string { return noSuitableNode + " (" + err.Error() + ")" }

// spreadService places the remaining tasks of service k, group by group.
func (s *Scheduler) spreadService(k int32, out []Decision) {
	sv := &s.services[k]
	clear(s.svc)
	for _, r := range s.heldOrder[sv.held:sv.heldEnd] {
		s.svc[r]++
	}
	for g := sv.first; g >= 0; g = s.groups[g].next {
		s.spreadGroup(&s.groups[g], out)
	}
}

func (s *Scheduler) spreadGroup(g *group, out []Decision) {
	tasks := s.order[g.start:g.count]
	if len(tasks) == 0 {
		return
	}
	if g.err != nil {
		refuse(tasks, invalidReason(g.err), out)
		return
	}
	s.pipe.resetGroup(s, g, &s.hostPorts)
	copy(s.pipe.failures, s.baseFailures)
	s.eligible = slices.Grow(s.eligible[:0], len(s.base))
	if first := len(s.baseFailures); first == len(s.pipe.filters) {
		s.eligible = append(s.eligible, s.base...)
	} else {
		// Base nodes passed the node-only filters; run the group's own.
		for _, r := range s.base {
			if s.pipe.checkFrom(first, s.byRank[r]) < 0 {
				s.eligible = append(s.eligible, r)
			}
		}
	}
	if len(s.eligible) == 0 {
		refuse(tasks, s.pipe.explain(), out)
		return
	}
	if g.bounded() {
		s.spreadBounded(g, tasks, out)
		return
	}
	s.heap.fill(s.eligible, s.svc, s.total)
	if len(g.ports) == 0 {
		for _, i := range tasks {
			out[i].NodeID = s.byRank[s.heap.take()].GetId()
		}
	} else {
		s.spreadOnePerNode(g, tasks, out)
	}
	s.heap.flush(s.svc, s.total)
}

// spreadOnePerNode places a group with host-mode ports: a node that takes one
// of its tasks now holds the ports, so it leaves the heap and the groups
// after this one see the ports held. Tasks left when every node has one are
// refused, the host-port filter counting each of those nodes.
func (s *Scheduler) spreadOnePerNode(g *group, tasks []int32, out []Decision) {
	for k, i := range tasks {
		if s.heap.empty() {
			s.pipe.failures[len(s.pipe.filters)-1] += len(s.eligible) // the host-port filter's
			refuse(tasks[k:], s.pipe.explain(), out)
			return
		}
		id := s.byRank[s.heap.takeOnce()].GetId()
		out[i].NodeID = id
		s.hostPorts.hold(id, g.ports)
	}
}

// refuse gives tasks one reason, shared by all their decisions.
func refuse(tasks []int32, reason string, out []Decision) {
	for _, i := range tasks {
		out[i].Reason = reason
	}
}

// resize returns a slice of length n, reusing buf's memory when it can.
func resize(buf []int32, n int) []int32 {
	if cap(buf) < n {
		return make([]int32, n)
	}
	return buf[:n]
}
