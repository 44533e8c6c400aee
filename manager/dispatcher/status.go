package dispatcher

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// One store write (one raft entry) of task status carries at most
// entryTasks tasks and about entryBytes of them (each task without the
// spec, endpoint and networks it keeps): few entries for a burst of 50,000
// reports (each entry is a raft round trip and an fsync), none of them huge.
const (
	entryTasks = 1000
	entryBytes = 1 << 20
)

// statusBatcher gathers task status reports from all sessions and writes
// them together: at once when the store has been idle for an interval
// (leading edge, so a lone report is not delayed), otherwise when the
// interval since the last write is over or size reports wait.
type statusBatcher struct {
	st       *store.Store
	interval time.Duration
	size     int
	log      *slog.Logger

	mu      sync.Mutex
	cur     *batch
	stopped bool
	kick    chan struct{}

	// What the writes cost (written by run's goroutine only): raft
	// entries, task updates in them, and their tasks' encoded bytes.
	written  writeStats
	lastLog  time.Time
	loggedAt writeStats
}

// writeStats counts the task status writes of one leadership term.
type writeStats struct {
	Entries, Tasks, Bytes int64
}

type batch struct {
	updates map[string]pendingStatus // by task ID
	done    chan struct{}
	err     error
}

type pendingStatus struct {
	nodeID string
	status *api.TaskStatus
}

func newBatch() *batch {
	return &batch{updates: map[string]pendingStatus{}, done: make(chan struct{})}
}

func newStatusBatcher(st *store.Store, interval time.Duration, size int, log *slog.Logger) *statusBatcher {
	return &statusBatcher{st: st, interval: interval, size: size, log: log, cur: newBatch(), kick: make(chan struct{}, 1)}
}

// add queues updates and returns the batch that will carry them. Of two
// reports for one task the one further along wins.
func (b *statusBatcher) add(nodeID string, updates []*api.TaskStatusUpdate) (*batch, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return nil, errdefs.Unavailable("%s", errStopped.Error())
	}
	for _, u := range updates {
		prev, ok := b.cur.updates[u.GetTaskId()]
		if ok && prev.status.GetState() > u.GetStatus().GetState() {
			continue
		}
		b.cur.updates[u.GetTaskId()] = pendingStatus{nodeID: nodeID, status: u.GetStatus()}
	}
	select {
	case b.kick <- struct{}{}:
	default:
	}
	return b.cur, nil
}

func (b *statusBatcher) run(ctx context.Context) {
	defer func() {
		b.logStats(true)
		b.mu.Lock()
		b.stopped = true
		cur := b.cur
		b.mu.Unlock()
		cur.err = errdefs.Unavailable("%s", errStopped.Error())
		close(cur.done)
	}()
	var last time.Time
	for {
		// Totals not logged yet are logged once the writes pause.
		var idle <-chan time.Time
		var it *time.Timer
		if b.written != b.loggedAt {
			it = time.NewTimer(2 * time.Second)
			idle = it.C
		}
		select {
		case <-ctx.Done():
			return
		case <-idle:
			b.logStats(true)
			continue
		case <-b.kick:
		}
		if it != nil {
			it.Stop()
		}
		// Wait out the rest of the interval unless the batch fills up.
		for {
			wait := b.interval - time.Since(last)
			b.mu.Lock()
			n := len(b.cur.updates)
			b.mu.Unlock()
			if wait <= 0 || n >= b.size || n == 0 {
				break
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			case <-b.kick:
				t.Stop()
			}
		}
		b.mu.Lock()
		full := b.cur
		b.cur = newBatch()
		b.mu.Unlock()
		if len(full.updates) == 0 {
			close(full.done)
			continue
		}
		last = time.Now()
		full.err = b.write(ctx, full.updates)
		if full.err != nil && ctx.Err() == nil {
			b.log.Error("write task status", "tasks", len(full.updates), "err", full.err)
		}
		close(full.done)
		b.logStats(false)
	}
}

// logStats logs the term's running totals at most every 10 s (and at the
// end of the term), so an operator or a benchmark sees what the status
// reports cost in raft.
func (b *statusBatcher) logStats(final bool) {
	if b.written == b.loggedAt || (!final && time.Since(b.lastLog) < 10*time.Second) {
		return
	}
	b.lastLog, b.loggedAt = time.Now(), b.written
	b.log.Info("task status writes", "entries", b.written.Entries, "tasks", b.written.Tasks, "bytes", b.written.Bytes)
}

// write applies the batch in entries bounded by entryTasks and entryBytes,
// never moving a task backwards and skipping tasks that are gone, that
// another node now holds, or whose status would not change (a report
// repeated after a reconnect costs no write).
func (b *statusBatcher) write(ctx context.Context, updates map[string]pendingStatus) error {
	ids := make([]string, 0, len(updates))
	for id := range updates {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for start := 0; start < len(ids); {
		var end int
		var tasks, bytes int64
		err := retryConflict(func() error {
			tasks, bytes = 0, 0
			return b.st.Update(ctx, func(tx *store.Tx) error {
				for end = start; end < len(ids) && tasks < entryTasks && bytes < entryBytes; end++ {
					id := ids[end]
					u := updates[id]
					cur := tx.Task(id)
					if cur == nil || cur.GetNodeId() != u.nodeID || !advances(cur.GetStatus(), u.status) {
						continue
					}
					// A shallow copy: the entry then leaves out the spec,
					// endpoint and networks it shares with the stored task
					// (store.keepStored), and nothing is deep-copied.
					t := store.ShallowTask(cur)
					t.Status = u.status
					if err := tx.Update(t); err != nil {
						return err
					}
					tasks++
					bytes += int64(entrySize(t))
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
		if tasks > 0 {
			b.written.Entries++
			b.written.Tasks += tasks
			b.written.Bytes += bytes
		}
		start = end
	}
	return nil
}

// entrySize is about what a status update of t costs in its raft entry:
// the task without the parts the store keeps from the stored version.
func entrySize(t *api.Task) int {
	sent := store.ShallowTask(t)
	sent.Spec, sent.Endpoint, sent.Networks = nil, nil, nil
	return proto.Size(sent)
}

// advances says whether next may replace cur: a later state, or the same
// state saying something new (a time stamp alone is not new).
func advances(cur, next *api.TaskStatus) bool {
	if next.GetState() != cur.GetState() {
		return next.GetState() > cur.GetState()
	}
	return next.GetMessage() != cur.GetMessage() || next.GetErr() != cur.GetErr() ||
		!proto.Equal(next.GetContainer(), cur.GetContainer()) || len(next.GetPorts()) != len(cur.GetPorts())
}
