package scheduler

import minswv1 "github.com/minsw/minsw/proto/minsw/v1"

// readyFilter keeps nodes whose agent is connected and heartbeating (status
// READY): a task sent to a down or disconnected node would sit there unseen.
type readyFilter struct{}

func (readyFilter) pass(n *minswv1.Node) bool {
	return n.GetStatus().GetState() == minswv1.NodeState_NODE_STATE_READY
}

// explain names the STATUS column of `node ls`, where the user will look next.
func (readyFilter) explain(count int) string { return nodes(count) + " not ready" }
