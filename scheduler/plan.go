package scheduler

// Decision is the scheduler's answer for one pending task.
type Decision struct {
	TaskID string
	// NodeID is where the task goes; "" when it cannot be placed.
	NodeID string
	// Reason is "" when placed, otherwise the text for the task's status.err,
	// as `service ps` shows it: "no suitable node (1 node not available for
	// new tasks)". Tasks of one group share one string.
	Reason string
}

// Placed reports whether the task got a node.
func (d Decision) Placed() bool { return d.NodeID != "" }

// Plan is what the caller commits: one Decision per pending task, in the
// order the tasks were given, so the caller can pair them up by index.
type Plan struct {
	Decisions []Decision
}

// Assignments returns task ID → node ID for the placed tasks. It is a
// convenience for tests and small callers; a hot path walks Decisions.
func (p Plan) Assignments() map[string]string {
	m := make(map[string]string, len(p.Decisions))
	for _, d := range p.Decisions {
		if d.Placed() {
			m[d.TaskID] = d.NodeID
		}
	}
	return m
}

// Unplaced returns task ID → reason for the tasks that got no node.
func (p Plan) Unplaced() map[string]string {
	m := make(map[string]string)
	for _, d := range p.Decisions {
		if !d.Placed() {
			m[d.TaskID] = d.Reason
		}
	}
	return m
}
