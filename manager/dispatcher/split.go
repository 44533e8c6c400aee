package dispatcher

import (
	"google.golang.org/protobuf/proto"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// messageBudget is the most one session message carries: half of gRPC's
// default 4 MiB receive limit. A node with tens of thousands of tasks
// (its shutdown history included) has an assignment set far larger; it
// is sent in parts.
const messageBudget = 2 << 20

// splitMessage cuts m into messages of at most budget bytes (a single task
// larger than that travels alone): the first carries everything but the
// tasks that did not fit, the others only tasks, and all but the last say
// assignments_more. A message that fits is returned as is. The parts share
// m's tasks; m is unchanged when splitMessage returns.
func splitMessage(m *api.SessionMessage, budget int) []*api.SessionMessage {
	if proto.Size(m) <= budget || len(m.GetAssignments().GetTasks()) == 0 {
		return []*api.SessionMessage{m}
	}
	// The first part is m without its tasks: they are left out of the
	// copy rather than copied and dropped (a deep copy of every task of a
	// large set was most of what sending it allocated).
	tasks := m.Assignments.Tasks
	m.Assignments.Tasks = nil
	first := proto.Clone(m).(*api.SessionMessage)
	m.Assignments.Tasks = tasks
	var parts []*api.SessionMessage
	cur := first
	size := proto.Size(first)
	for _, t := range tasks {
		n := proto.Size(t) + 8
		if size+n > budget && len(cur.GetAssignments().GetTasks()) > 0 {
			parts = append(parts, cur)
			cur = &api.SessionMessage{SessionId: m.GetSessionId(), Assignments: &api.Assignments{}}
			size = proto.Size(cur)
		}
		cur.Assignments.Tasks = append(cur.Assignments.Tasks, t)
		size += n
	}
	parts = append(parts, cur)
	for _, p := range parts[:len(parts)-1] {
		p.AssignmentsMore = true
	}
	return parts
}
