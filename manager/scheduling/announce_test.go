package scheduling

import (
	"context"
	"testing"

	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// A pass over more tasks than one batch commits every placement and
// announces each exactly once: one update event per task, from pending
// without a node to assigned on the node the store now lists it under.
// A bulk write that dropped a task, an event, or a node index entry fails
// here.
func TestEveryPlacementIsCommittedAndAnnounced(t *testing.T) {
	const tasks = 2*batchSize + 1234
	st := seedReserved(t, 30, tasks)
	w := st.Watch(store.ForTables(store.TableTask))
	defer w.Close()
	n, err := New(st, nil).Once(context.Background())
	if err != nil || n != tasks {
		t.Fatalf("assigned %d of %d, err %v", n, tasks, err)
	}
	placed := map[string]string{}
	for _, e := range w.Drain() {
		tk, old := e.Object.(*api.Task), e.Old.(*api.Task)
		if e.Kind != store.EventUpdate {
			t.Fatalf("event %v for task %s, want an update", e.Kind, tk.Id)
		}
		if _, dup := placed[tk.Id]; dup {
			t.Fatalf("task %s announced twice", tk.Id)
		}
		if old.GetStatus().GetState() != api.TaskState_TASK_STATE_PENDING || old.NodeId != "" ||
			tk.GetStatus().GetState() != api.TaskState_TASK_STATE_ASSIGNED || tk.NodeId == "" {
			t.Fatalf("task %s: event from %v on %q to %v on %q", tk.Id, old.GetStatus().GetState(), old.NodeId, tk.GetStatus().GetState(), tk.NodeId)
		}
		placed[tk.Id] = tk.NodeId
	}
	if len(placed) != tasks {
		t.Fatalf("%d tasks announced, want %d", len(placed), tasks)
	}
	st.View(func(tx store.ReadTx) {
		listed := 0
		for _, nd := range tx.Nodes() {
			for _, tk := range tx.TasksByNode(nd.Id) {
				listed++
				if placed[tk.Id] != nd.Id || tk.GetStatus().GetState() != api.TaskState_TASK_STATE_ASSIGNED {
					t.Fatalf("task %s listed under node %s, announced on %q, state %v", tk.Id, nd.Id, placed[tk.Id], tk.GetStatus().GetState())
				}
			}
		}
		if listed != tasks {
			t.Fatalf("%d tasks listed by node, want %d", listed, tasks)
		}
		if n := len(tx.TasksByService("svc")); n != tasks {
			t.Fatalf("%d tasks listed by service, want %d", n, tasks)
		}
	})
}
