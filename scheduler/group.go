package scheduler

import (
	"slices"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// service is one service with tasks in the batch.
type service struct {
	id          string
	first, last int32 // its groups, linked through group.next; -1 if none
	held        int32 // its tasks already on nodes (bucket size, then start)
	heldEnd     int32
}

// group is the tasks of one service that share a spec version, constraints
// and host-mode ports, so filters run once per (group, node) instead of once
// per (task, node).
type group struct {
	service     int32
	version     uint64
	exprs       []string // constraints as written, to tell groups apart
	constraints []Constraint
	ports       []hostPort          // host-mode ports: one task of the group per node
	res         reservation         // what each task reserves on its node
	maxPerNode  int32               // --replicas-max-per-node; 0 = no limit
	prefs       []Preference        // --placement-pref, outermost first
	platforms   []*minswv1.Platform // the image's; none: any node
	err         error               // from parsing exprs or prefs: the group cannot be placed
	next        int32               // next group of the same service, or -1
	count       int32               // tasks to spread (bucket size, then end offset)
	start       int32
}

// groupTasks gives every pending task its group. Consecutive tasks of one
// service are the common case, so the last service found is tried first and
// a batch of one service does one map lookup, not one per task.
func (s *Scheduler) groupTasks(pending []*minswv1.Task) {
	s.services = s.services[:0]
	s.groups = s.groups[:0]
	s.needFree = false
	if s.serviceOf == nil {
		s.serviceOf = make(map[string]int32)
	}
	clear(s.serviceOf)
	s.groupOf = resize(s.groupOf, len(pending))

	last := int32(-1)
	for i, t := range pending {
		id := t.GetServiceId()
		if last < 0 || s.services[last].id != id {
			k, ok := s.serviceOf[id]
			if !ok {
				k = int32(len(s.services))
				s.services = append(s.services, service{id: id, first: -1, last: -1})
				s.serviceOf[id] = k
			}
			last = k
		}
		s.groupOf[i] = s.findGroup(last, t)
	}
}

// findGroup returns the group of task t of service k, creating it if needed.
// A service has one group unless a rolling update is in flight.
func (s *Scheduler) findGroup(k int32, t *minswv1.Task) int32 {
	exprs := t.GetSpec().GetPlacement().GetConstraints()
	version := t.GetSpecVersion()
	// Tasks of one spec version publish the same ports; they are compared
	// anyway, because a task carries its own copy of the endpoint.
	s.ports = appendHostPorts(s.ports[:0], t)
	for g := s.services[k].first; g >= 0; g = s.groups[g].next {
		if s.groups[g].version == version && slices.Equal(s.groups[g].exprs, exprs) &&
			slices.Equal(s.groups[g].ports, s.ports) {
			return g
		}
	}
	g := int32(len(s.groups))
	cs, err := ParseConstraints(exprs)
	var ports []hostPort
	if len(s.ports) > 0 {
		ports = slices.Clone(s.ports)
	}
	g0 := group{service: k, version: version, exprs: exprs, constraints: cs, ports: ports, err: err, next: -1}
	s.limitGroup(&g0, t)
	s.groups = append(s.groups, g0)
	if s.services[k].last >= 0 {
		s.groups[s.services[k].last].next = g
	} else {
		s.services[k].first = g
	}
	s.services[k].last = g
	return g
}

// bucketTasks lays out the tasks still to place group by group, keeping
// their batch order within a group.
func (s *Scheduler) bucketTasks() {
	for _, g := range s.groupOf {
		if g >= 0 {
			s.groups[g].count++
		}
	}
	off := int32(0)
	for g := range s.groups {
		c := s.groups[g].count
		s.groups[g].start = off
		s.groups[g].count = off // becomes the end offset while filling
		off += c
	}
	s.order = resize(s.order, int(off))
	for i, g := range s.groupOf {
		if g >= 0 {
			s.order[s.groups[g].count] = int32(i)
			s.groups[g].count++
		}
	}
}
