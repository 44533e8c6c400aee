package dispatcher

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

func TestSplitMessageKeepsEveryTaskUnderTheBudget(t *testing.T) {
	msg := func(n, pad int) *api.SessionMessage {
		m := &api.SessionMessage{SessionId: "s1", Node: &api.Node{Id: "n1"}, ManagerIds: []string{"m1"},
			Assignments: &api.Assignments{Networks: []*api.Network{{Id: "net1"}}}}
		for i := 0; i < n; i++ {
			m.Assignments.Tasks = append(m.Assignments.Tasks, &api.Task{Id: fmt.Sprintf("t%05d", i),
				Spec: &api.TaskSpec{Container: &api.ContainerSpec{Env: []string{strings.Repeat("e", pad)}}}})
		}
		return m
	}
	cases := []struct {
		name      string
		m         *api.SessionMessage
		budget    int
		wantParts int
	}{
		{"a small set is one message", msg(10, 10), 1 << 20, 1},
		{"no tasks", msg(0, 0), 10, 1},
		{"17,000 tasks of 300 bytes in 2 MiB parts", msg(17_000, 300), 2 << 20, 3},
		{"a task over the budget travels alone", msg(3, 5000), 4000, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parts := splitMessage(c.m, c.budget)
			if len(parts) != c.wantParts {
				t.Fatalf("%d parts, want %d", len(parts), c.wantParts)
			}
			var ids []string
			for i, p := range parts {
				if n := proto.Size(p); n > c.budget && len(p.GetAssignments().GetTasks()) > 1 {
					t.Fatalf("part %d is %d bytes, over %d", i, n, c.budget)
				}
				if p.GetAssignmentsMore() != (i < len(parts)-1) {
					t.Fatalf("part %d of %d: more=%v", i, len(parts), p.GetAssignmentsMore())
				}
				if p.GetSessionId() != "s1" {
					t.Fatalf("part %d has no session", i)
				}
				for _, tk := range p.GetAssignments().GetTasks() {
					ids = append(ids, tk.GetId())
				}
			}
			if len(ids) != len(c.m.GetAssignments().GetTasks()) {
				t.Fatalf("%d tasks in the parts, want %d", len(ids), len(c.m.GetAssignments().GetTasks()))
			}
			for i, id := range ids {
				if id != c.m.Assignments.Tasks[i].Id {
					t.Fatalf("task %d is %s, want %s", i, id, c.m.Assignments.Tasks[i].Id)
				}
			}
			if parts[0].GetNode().GetId() != "n1" || len(parts[0].GetAssignments().GetNetworks()) != 1 {
				t.Fatalf("the first part lost the node or the networks: %v", parts[0].GetNode())
			}
		})
	}
}

// TestSplitMessageDoesNotCopyTheTasks: cutting a 20,000-task set into
// parts must not copy the tasks (it did: a deep copy of the whole set,
// for every set sent to a large node).
func TestSplitMessageDoesNotCopyTheTasks(t *testing.T) {
	m := &api.SessionMessage{SessionId: "s1", Node: &api.Node{Id: "n1"}, Assignments: &api.Assignments{}}
	for i := 0; i < 20_000; i++ {
		m.Assignments.Tasks = append(m.Assignments.Tasks, &api.Task{Id: fmt.Sprintf("t%05d", i), ServiceName: "web",
			Spec: &api.TaskSpec{Container: &api.ContainerSpec{Image: "busybox", Env: []string{strings.Repeat("e", 100)}}}})
	}
	size := proto.Size(m)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	parts := splitMessage(m, 2<<20)
	runtime.ReadMemStats(&after)
	if len(parts) < 2 {
		t.Fatalf("%d parts", len(parts))
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("split %d bytes of tasks into %d parts, allocating %d bytes", size, len(parts), alloc)
	if alloc > uint64(size) {
		t.Errorf("splitting a %d-byte set allocated %d bytes: the tasks were copied", size, alloc)
	}
	if parts[0].GetAssignments().GetTasks()[0] != m.Assignments.Tasks[0] || len(m.Assignments.Tasks) != 20_000 {
		t.Errorf("the parts do not share m's tasks, or m lost them")
	}
}
