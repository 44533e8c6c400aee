package agent_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/executor/fake"
)

// waitRunning blocks until every task in ids is reported running in the
// store, watching rather than polling so the figure is the real latency.
func waitRunning(b *testing.B, w *store.Watcher, ids map[string]bool) {
	left := len(ids)
	timeout := time.After(10 * time.Second)
	for left > 0 {
		select {
		case <-w.C:
		case <-timeout:
			b.Fatalf("%d tasks not running after 10s", left)
		}
		for _, e := range w.Drain() {
			t, ok := e.Object.(*api.Task)
			if ok && ids[t.GetId()] && t.GetStatus().GetState() == api.TaskState_TASK_STATE_RUNNING {
				ids[t.GetId()] = false
				left--
			}
		}
	}
}

func benchAssign(b *testing.B, perOp int, pause time.Duration) {
	st := newStore(b, "worker1")
	m := newManager(b, st, nil)
	m.run()
	a, _ := startAgent(b, "worker1", []string{m.addr}, fake.New())
	waitFor(b, "session", func() bool { return a.Leader() != "" })
	w := st.Watch(store.ForTables(store.TableTask))
	defer w.Close()
	b.ResetTimer()
	for i := range b.N {
		if pause > 0 {
			b.StopTimer()
			time.Sleep(pause)
			b.StartTimer()
		}
		ids := make([]string, perOp)
		want := map[string]bool{}
		for j := range ids {
			ids[j] = fmt.Sprintf("t%d-%d", i, j)
			want[ids[j]] = true
		}
		assign(b, st, "worker1", "containous/whoami", ids...)
		waitRunning(b, w, want)
	}
}

// BenchmarkAssignedToRunning: one task assigned in the store → RUNNING
// reported back in the store, through a real dispatcher, gRPC over a unix
// socket, the agent and the fake executor.
// Back to back, each op waits for the dispatcher's status write interval
// (50 ms) since the previous op's write; after a pause (the common case of
// a lone task) the write goes out at once.
func BenchmarkAssignedToRunning(b *testing.B) {
	b.Run("back-to-back", func(b *testing.B) { benchAssign(b, 1, 0) })
	b.Run("after-idle", func(b *testing.B) { benchAssign(b, 1, 60*time.Millisecond) })
}

// BenchmarkFiftyTasksOneNode: 50 tasks assigned to one node in one write →
// all RUNNING in the store.
func BenchmarkFiftyTasksOneNode(b *testing.B) {
	b.Run("back-to-back", func(b *testing.B) { benchAssign(b, 50, 0) })
	b.Run("after-idle", func(b *testing.B) { benchAssign(b, 50, 60*time.Millisecond) })
}
