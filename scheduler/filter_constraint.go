package scheduler

import minswv1 "github.com/minsw/minsw/proto/minsw/v1"

// constraintFilter keeps nodes that satisfy all of a service's placement
// constraints (--constraint). The constraints were parsed once per group.
type constraintFilter struct{ cs []Constraint }

func (f constraintFilter) pass(n *minswv1.Node) bool { return matchAll(f.cs, n) }

// explain uses Swarm's exact words, so a user recognises a typo'd label.
func (constraintFilter) explain(count int) string {
	return "scheduling constraints not satisfied on " + nodes(count)
}
