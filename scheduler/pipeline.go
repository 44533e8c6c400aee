package scheduler

import (
	"strconv"
	"strings"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// filter is one reason a node may not take a task. Filters are checked once
// per (task group, node), never per task, because tasks of a group share them.
type filter interface {
	// pass reports whether node n may take the group's tasks.
	pass(n *minswv1.Node) bool
	// explain says, in Swarm's words, why this filter refused count nodes.
	explain(count int) string
}

// nodes renders a count as Swarm does: "1 node", "3 nodes".
func nodes(count int) string {
	if count == 1 {
		return "1 node"
	}
	return strconv.Itoa(count) + " nodes"
}

// pipeline runs a group's filters in order and remembers, per filter, how many
// nodes it refused, so an unplaceable task can be told why.
type pipeline struct {
	filters  []filter
	failures []int
	// constraints, resources, maxReplicas and hostPorts live here so that
	// putting them in filters does not allocate.
	constraints constraintFilter
	platforms   platformFilter
	resources   resourceFilter
	maxReplicas maxReplicasFilter
	hostPorts   hostPortFilter
	// resIdx, maxIdx and portIdx are those filters' places in filters, or
	// -1: a node that leaves a bounded spread is counted against them.
	resIdx, maxIdx, portIdx int
}

// reset prepares the pipeline for a group with the given constraints and
// host-mode ports, held or not on each node as in says. The cheap, most
// common refusals come first, as in Swarm: a node that is down is reported as
// down, not as failing a constraint. The host-port filter, when there is one,
// is last, so a node it refuses passed everything else.
func (p *pipeline) reset(cs []Constraint, ports []hostPort, in *hostPortsIn) {
	p.resetGroup(nil, &group{constraints: cs, ports: ports}, in)
}

// resetGroup prepares the pipeline for group g of s (s may be nil for a
// group without reservations or a per-node maximum).
func (p *pipeline) resetGroup(s *Scheduler, g *group, in *hostPortsIn) {
	p.filters = append(p.filters[:0], readyFilter{}, availabilityFilter{})
	p.resIdx, p.maxIdx, p.portIdx = -1, -1, -1
	if len(g.constraints) > 0 {
		p.constraints.cs = g.constraints
		p.filters = append(p.filters, &p.constraints)
	}
	if len(g.platforms) > 0 {
		p.platforms.platforms = g.platforms
		p.filters = append(p.filters, &p.platforms)
	}
	if s != nil && g.res.any() {
		p.resources = resourceFilter{s, g.res}
		p.resIdx = len(p.filters)
		p.filters = append(p.filters, &p.resources)
	}
	if s != nil && g.maxPerNode > 0 {
		p.maxReplicas = maxReplicasFilter{s, g.maxPerNode}
		p.maxIdx = len(p.filters)
		p.filters = append(p.filters, &p.maxReplicas)
	}
	if len(g.ports) > 0 {
		p.hostPorts = hostPortFilter{g.ports, in}
		p.portIdx = len(p.filters)
		p.filters = append(p.filters, &p.hostPorts)
	}
	p.failures = p.failures[:0]
	for range p.filters {
		p.failures = append(p.failures, 0)
	}
}

// check runs n through the filters and returns the index of the first filter
// that refused it, or -1 if it passed them all. It counts the refusal.
func (p *pipeline) check(n *minswv1.Node) int { return p.checkFrom(0, n) }

// checkFrom is check skipping the filters before first, for a node already
// known to pass them.
func (p *pipeline) checkFrom(first int, n *minswv1.Node) int {
	for i := first; i < len(p.filters); i++ {
		if !p.filters[i].pass(n) {
			p.failures[i]++
			return i
		}
	}
	return -1
}

// explain joins the refusals counted since reset, most frequent first (ties
// keep pipeline order), into the text Swarm puts in task status:
// "no suitable node (scheduling constraints not satisfied on 3 nodes; 1 node
// not available for new tasks)". With no nodes at all it is "no suitable node".
func (p *pipeline) explain() string {
	var order [8]int
	idx := order[:0]
	for i, c := range p.failures {
		if c > 0 {
			idx = append(idx, i)
		}
	}
	// Insertion sort: there are at most a handful of filters.
	for a := 1; a < len(idx); a++ {
		for b := a; b > 0 && p.failures[idx[b]] > p.failures[idx[b-1]]; b-- {
			idx[b], idx[b-1] = idx[b-1], idx[b]
		}
	}
	if len(idx) == 0 {
		return noSuitableNode
	}
	var sb strings.Builder
	sb.WriteString(noSuitableNode + " (")
	for k, i := range idx {
		if k > 0 {
			sb.WriteString("; ")
		}
		sb.WriteString(p.filters[i].explain(p.failures[i]))
	}
	sb.WriteByte(')')
	return sb.String()
}

// explainOne is the reason for a task whose node was chosen for it (a global
// service's task) when filter i refused that node.
func (p *pipeline) explainOne(i int) string {
	return noSuitableNode + " (" + p.filters[i].explain(1) + ")"
}

// noSuitableNode opens every reason, as in Swarm, so users and scripts that
// grep `service ps` for it keep working.
const noSuitableNode = "no suitable node"
