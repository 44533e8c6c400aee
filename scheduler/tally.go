package scheduler

import minswv1 "github.com/minsw/minsw/proto/minsw/v1"

// held is a task of a batch service that already sits on a node.
type held struct{ service, rank int32 }

// countHeld tallies the tasks already on nodes: all of them towards their
// node's total, and those of batch services towards that service. It also
// notes the host-mode ports they hold.
func (s *Scheduler) countHeld(existing []*minswv1.Task) {
	clear(s.total)
	s.held = s.held[:0]
	s.hostPorts.reset()
	if s.needFree {
		s.free.fill(s.byRank)
	}
	for _, t := range existing {
		if !occupies(t) {
			continue
		}
		r, ok := s.rank[t.GetNodeId()]
		if !ok {
			continue
		}
		s.total[r]++
		if s.needFree {
			if res := reservationOf(t); res.any() {
				s.free.take(r, res)
			}
		}
		if len(t.GetEndpoint().GetPorts()) > 0 {
			s.ports = appendHostPorts(s.ports[:0], t)
			s.hostPorts.hold(s.byRank[r].GetId(), s.ports)
		}
		if k, ok := s.serviceOf[t.GetServiceId()]; ok {
			s.held = append(s.held, held{k, r})
		}
	}
}

// occupies reports whether a task counts against its node: it has been handed
// to the node and has not finished. Desired state is not looked at, as in
// Swarm, because a task being shut down still runs until it stops.
func occupies(t *minswv1.Task) bool {
	st := t.GetStatus().GetState()
	return t.GetNodeId() != "" &&
		st >= minswv1.TaskState_TASK_STATE_ASSIGNED &&
		st <= minswv1.TaskState_TASK_STATE_RUNNING
}

// bucketHeld sorts held tasks by service (a counting sort, no allocation once
// warm), so each service adds its own tallies in O(its tasks).
func (s *Scheduler) bucketHeld() {
	for k := range s.services {
		s.services[k].held = 0
	}
	for _, h := range s.held {
		s.services[h.service].held++
	}
	off := int32(0)
	for k := range s.services {
		c := s.services[k].held
		s.services[k].held = off
		s.services[k].heldEnd = off
		off += c
	}
	s.heldOrder = resize(s.heldOrder, len(s.held))
	for _, h := range s.held {
		sv := &s.services[h.service]
		s.heldOrder[sv.heldEnd] = h.rank
		sv.heldEnd++
	}
}
