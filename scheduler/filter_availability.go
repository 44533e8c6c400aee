package scheduler

import minswv1 "github.com/minsw/minsw/proto/minsw/v1"

// availabilityFilter keeps nodes an operator left ACTIVE: `node update
// --availability pause` or `drain` means "no new tasks here", whatever the
// spread would prefer.
type availabilityFilter struct{}

func (availabilityFilter) pass(n *minswv1.Node) bool {
	return n.GetSpec().GetAvailability() == minswv1.NodeAvailability_NODE_AVAILABILITY_ACTIVE
}

// explain uses Swarm's exact words for a paused or drained node.
func (availabilityFilter) explain(count int) string {
	return nodes(count) + " not available for new tasks"
}
