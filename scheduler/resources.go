package scheduler

import (
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// reservation is what one task reserves on its node: --reserve-cpu,
// --reserve-memory and --generic-resource.
type reservation struct {
	cpu, mem int64
	generic  []*minswv1.GenericResource
}

func reservationOf(t *minswv1.Task) reservation {
	r := t.GetSpec().GetResources().GetReservations()
	if r == nil {
		return reservation{}
	}
	return reservation{cpu: r.GetNanoCpus(), mem: r.GetMemoryBytes(), generic: r.GetGeneric()}
}

func (r reservation) any() bool { return r.cpu > 0 || r.mem > 0 || len(r.generic) > 0 }

// rankKind is one generic resource of one node.
type rankKind struct {
	rank int32
	kind string
}

// freeResources is what each node (by rank) has left to reserve: what it
// reports, less what the tasks on it and those placed so far in the batch
// reserve. It is filled only when a batch has reservations.
type freeResources struct {
	on      bool
	cpu     []int64
	mem     []int64
	generic map[rankKind]int64
}

// fill sets every node's free resources from its description.
func (f *freeResources) fill(byRank []*minswv1.Node) {
	f.on = true
	f.cpu = resize64(f.cpu, len(byRank))
	f.mem = resize64(f.mem, len(byRank))
	if f.generic == nil {
		f.generic = map[rankKind]int64{}
	}
	clear(f.generic)
	for r, n := range byRank {
		res := n.GetDescription().GetResources()
		f.cpu[r], f.mem[r] = res.GetNanoCpus(), res.GetMemoryBytes()
		for _, g := range res.GetGeneric() {
			f.generic[rankKind{int32(r), g.GetKind()}] += g.GetValue()
		}
	}
}

func (f *freeResources) fits(r int32, need reservation) bool {
	if f.cpu[r] < need.cpu || f.mem[r] < need.mem {
		return false
	}
	for _, g := range need.generic {
		if f.generic[rankKind{r, g.GetKind()}] < g.GetValue() {
			return false
		}
	}
	return true
}

func (f *freeResources) take(r int32, need reservation) {
	f.cpu[r] -= need.cpu
	f.mem[r] -= need.mem
	for _, g := range need.generic {
		f.generic[rankKind{r, g.GetKind()}] -= g.GetValue()
	}
}

// resourceFilter keeps nodes with enough free resources for one task of
// the group.
type resourceFilter struct {
	s    *Scheduler
	need reservation
}

func (f *resourceFilter) pass(n *minswv1.Node) bool {
	return f.s.free.fits(f.s.rank[n.GetId()], f.need)
}

// explain uses swarmkit's words.
func (*resourceFilter) explain(count int) string { return "insufficient resources on " + nodes(count) }

// maxReplicasFilter keeps nodes holding fewer than --replicas-max-per-node
// tasks of the service.
type maxReplicasFilter struct {
	s   *Scheduler
	max int32
}

func (f *maxReplicasFilter) pass(n *minswv1.Node) bool { return f.s.svc[f.s.rank[n.GetId()]] < f.max }

// explain uses swarmkit's words.
func (*maxReplicasFilter) explain(count int) string {
	return "max replicas per node limit exceed on " + nodes(count)
}

func resize64(buf []int64, n int) []int64 {
	if cap(buf) < n {
		return make([]int64, n)
	}
	return buf[:n]
}
