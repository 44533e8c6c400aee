package dispatcher

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

func statusStore(t *testing.T, node string, n int, pad int) (*store.Store, []string) {
	t.Helper()
	st := store.New(nil, nil)
	var ids []string
	if err := st.Batch(context.Background(), n, 500, func(tx *store.Tx, i int) error {
		tk := newTask(fmt.Sprintf("%s-%05d", node, i), node, api.TaskState_TASK_STATE_ASSIGNED)
		if pad > 0 {
			tk.Spec.Container.Env = []string{"PAD=" + strings.Repeat("p", pad)}
		}
		ids = append(ids, tk.Id)
		return tx.Create(tk)
	}); err != nil {
		t.Fatal(err)
	}
	return st, ids
}

func reports(node string, ids []string, state api.TaskState, at time.Time) map[string]pendingStatus {
	out := map[string]pendingStatus{}
	for _, id := range ids {
		out[id] = pendingStatus{nodeID: node, status: &api.TaskStatus{State: state, Message: "started", Timestamp: timestamppb.New(at)}}
	}
	return out
}

// TestStatusWritesAreFewBoundedEntries: 3,000 reports are 3 raft entries
// (they were 15, of 200 tasks each), and big tasks are cut by size: no
// entry carries much more than entryBytes.
func TestStatusWritesAreFewBoundedEntries(t *testing.T) {
	ctx := context.Background()
	st, ids := statusStore(t, "n1", 3000, 0)
	b := newStatusBatcher(st, 0, 100, slog.New(slog.DiscardHandler))
	if err := b.write(ctx, reports("n1", ids, api.TaskState_TASK_STATE_RUNNING, time.Now())); err != nil {
		t.Fatal(err)
	}
	if w := taskWrites(st, ids); w != 3 || b.written.Entries != 3 || b.written.Tasks != 3000 {
		t.Fatalf("3,000 reports: %d store writes, %+v counted; want 3 entries", w, b.written)
	}

	// Big specs are not carried (the entry keeps the stored spec), so ten
	// tasks of 300 kB still make one small entry...
	st, ids = statusStore(t, "n2", 10, 300_000)
	b = newStatusBatcher(st, 0, 100, slog.New(slog.DiscardHandler))
	if err := b.write(ctx, reports("n2", ids, api.TaskState_TASK_STATE_RUNNING, time.Now())); err != nil {
		t.Fatal(err)
	}
	if w := taskWrites(st, ids); w != 1 || b.written.Bytes > 10_000 {
		t.Fatalf("10 tasks of 300 kB: %d store writes of %d bytes, want 1 small one (specs kept, not sent)", w, b.written.Bytes)
	}
	// ...but big statuses are cut by size.
	st, ids = statusStore(t, "n3", 10, 0)
	b = newStatusBatcher(st, 0, 100, slog.New(slog.DiscardHandler))
	big := reports("n3", ids, api.TaskState_TASK_STATE_FAILED, time.Now())
	for id, p := range big {
		p.status.Err = strings.Repeat("e", 300_000)
		big[id] = p
	}
	if err := b.write(ctx, big); err != nil {
		t.Fatal(err)
	}
	if w := taskWrites(st, ids); w < 3 || int64(w) != b.written.Entries {
		t.Fatalf("10 statuses of 300 kB: %d store writes (%d counted), want at least 3 of at most ~1 MiB", w, b.written.Entries)
	}
	if per := b.written.Bytes / b.written.Entries; per > entryBytes+400_000 {
		t.Fatalf("entries of %d bytes on average, over %d", per, entryBytes)
	}
}

// raftLog is a Proposer that keeps each command as raft would replicate
// it (a copy: applying fills the kept parts in) and applies it at once.
type raftLog struct {
	st   *store.Store
	cmds []*api.RaftCommand
}

func (l *raftLog) Propose(_ context.Context, cmd *api.RaftCommand) error {
	l.cmds = append(l.cmds, proto.Clone(cmd).(*api.RaftCommand))
	return l.st.Apply(uint64(len(l.cmds)), cmd)
}

// TestStatusEntryLeavesOutTheSpec: the task written for a status report
// is a shallow copy sharing the stored spec, so its raft entry leaves the
// spec out (keeps_spec); a deep copy put every task's whole spec into the
// log for each report.
func TestStatusEntryLeavesOutTheSpec(t *testing.T) {
	st := store.New(nil, nil)
	log := &raftLog{st: st}
	st.SetProposer(log)
	tk := newTask("t1", "n1", api.TaskState_TASK_STATE_ASSIGNED)
	tk.Spec.Container.Env = []string{"PAD=" + strings.Repeat("p", 10_000)}
	if err := st.Update(context.Background(), func(tx *store.Tx) error { return tx.Create(tk) }); err != nil {
		t.Fatal(err)
	}
	b := newStatusBatcher(st, 0, 100, slog.New(slog.DiscardHandler))
	if err := b.write(context.Background(), reports("n1", []string{"t1"}, api.TaskState_TASK_STATE_RUNNING, time.Now())); err != nil {
		t.Fatal(err)
	}
	last := log.cmds[len(log.cmds)-1]
	if a := last.GetActions()[0]; !a.GetKeepsSpec() || a.GetTask().GetSpec() != nil || proto.Size(last) > 1000 {
		t.Fatalf("status entry of %d bytes, keeps spec %v", proto.Size(last), a.GetKeepsSpec())
	}
	var got *api.Task
	st.View(func(tx store.ReadTx) { got = tx.Task("t1") })
	if got.GetStatus().GetState() != api.TaskState_TASK_STATE_RUNNING || len(got.GetSpec().GetContainer().GetEnv()) != 1 {
		t.Fatalf("stored task after the report: %v", got)
	}
	if b.written.Bytes > 1000 {
		t.Fatalf("counted %d bytes for the entry", b.written.Bytes)
	}
}

// TestRepeatedStatusIsNotWritten: a worker resending what the store
// already says (after a reconnect, with a new time stamp) costs no write.
func TestRepeatedStatusIsNotWritten(t *testing.T) {
	ctx := context.Background()
	st, ids := statusStore(t, "n1", 500, 0)
	b := newStatusBatcher(st, 0, 100, slog.New(slog.DiscardHandler))
	if err := b.write(ctx, reports("n1", ids, api.TaskState_TASK_STATE_RUNNING, time.Now())); err != nil {
		t.Fatal(err)
	}
	before, entries := taskWrites(st, ids), b.written.Entries
	var v0 uint64
	st.View(func(tx store.ReadTx) { v0 = tx.Task(ids[0]).GetMeta().GetVersion() })
	if err := b.write(ctx, reports("n1", ids, api.TaskState_TASK_STATE_RUNNING, time.Now().Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	var v1 uint64
	st.View(func(tx store.ReadTx) { v1 = tx.Task(ids[0]).GetMeta().GetVersion() })
	if taskWrites(st, ids) != before || b.written.Entries != entries || v1 != v0 {
		t.Fatalf("a repeated status was written: entries %d -> %d, version %d -> %d", entries, b.written.Entries, v0, v1)
	}
}

// TestForeignTaskRefusedAloneInARequest: a report for another node's task
// is refused, but the node's own reports in the same request are recorded
// (the worker drops a refused request whole, and sends up to 1,000 reports
// in one).
func TestForeignTaskRefusedAloneInARequest(t *testing.T) {
	h := newHarness(t, nil)
	h.addNode("worker1")
	h.addNode("worker2")
	h.st.Update(context.Background(), func(tx *store.Tx) error {
		tx.Create(newTask("own", "worker1", api.TaskState_TASK_STATE_ASSIGNED))
		return tx.Create(newTask("theirs", "worker2", api.TaskState_TASK_STATE_ASSIGNED))
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, m := h.session(ctx, "worker1")
	running := &api.TaskStatus{State: api.TaskState_TASK_STATE_RUNNING}
	_, err := h.client.UpdateTaskStatus(ctx, &api.UpdateTaskStatusRequest{NodeId: "worker1", SessionId: m.GetSessionId(),
		Updates: []*api.TaskStatusUpdate{{TaskId: "theirs", Status: running}, {TaskId: "own", Status: running}}})
	if edgeCode(err) != codes.PermissionDenied {
		t.Fatalf("another node's task: %v", err)
	}
	if h.task("own").GetStatus().GetState() != api.TaskState_TASK_STATE_RUNNING || h.task("theirs").GetStatus().GetState() != api.TaskState_TASK_STATE_ASSIGNED {
		t.Fatalf("own %v, theirs %v", h.task("own").GetStatus().GetState(), h.task("theirs").GetStatus().GetState())
	}
}
