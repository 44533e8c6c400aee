package agent

import (
	"context"
	"errors"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/executor"
)

// Bounds of the log path: a node answers at most maxLogSubscriptions
// readers at once, and a message carries at most maxLogChunk bytes of
// lines.
const (
	maxLogSubscriptions = 64
	maxLogChunk         = 32 << 10
	logQueue            = 16 // messages waiting for one publish stream
)

// logLoop answers the leader's log subscriptions while session s lives:
// it keeps the subscription stream open (reopening it after a failure) and
// publishes each subscription's logs from the executor. A manager without
// a log broker (Unimplemented) ends it quietly; the session goes on.
func (a *Agent) logLoop(ctx context.Context, s *activeSession) {
	subs := &logSubs{cancel: map[string]context.CancelFunc{}}
	defer subs.stopAll()
	delay := a.cfg.ReconnectDelay
	for ctx.Err() == nil {
		err := a.listenLogs(ctx, s, subs)
		if ctx.Err() != nil {
			return
		}
		if status.Code(err) == codes.Unimplemented {
			a.log.Debug("manager serves no logs", "manager", s.addr)
			return
		}
		a.log.Warn("log subscriptions", "manager", s.addr, "err", err, "retry_in", delay)
		if !sleep(ctx, a.clock, delay) {
			return
		}
		delay = min(2*delay, a.cfg.MaxReconnectDelay)
	}
}

func (a *Agent) listenLogs(ctx context.Context, s *activeSession, subs *logSubs) error {
	stream, err := s.client.LogSubscriptions(ctx, &api.LogSubscriptionsRequest{NodeId: a.cfg.NodeID, SessionId: s.id})
	if err != nil {
		return err
	}
	for {
		m, err := stream.Recv()
		if err != nil {
			return err
		}
		if m.GetClose() {
			subs.stop(m.GetId())
			continue
		}
		if !subs.start(ctx, m.GetId(), func(ctx context.Context) { a.publishLogs(ctx, s.client, m, "") }) {
			a.log.Warn("log subscription refused: too many readers", "subscription", m.GetId())
			rctx, cancel := context.WithTimeout(ctx, a.cfg.RPCTimeout)
			a.publishLogs(rctx, s.client, m, "too many log readers on this node")
			cancel()
		}
	}
}

// logSubs are the running publishers, by subscription ID.
type logSubs struct {
	mu     sync.Mutex
	cancel map[string]context.CancelFunc
	wg     sync.WaitGroup
}

// start runs fn for subscription id unless maxLogSubscriptions run.
func (l *logSubs) start(ctx context.Context, id string, fn func(context.Context)) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, dup := l.cancel[id]; dup {
		return true
	}
	if len(l.cancel) >= maxLogSubscriptions {
		return false
	}
	ctx, cancel := context.WithCancel(ctx)
	l.cancel[id] = cancel
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer l.stop(id)
		fn(ctx)
	}()
	return true
}

func (l *logSubs) stop(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c := l.cancel[id]; c != nil {
		c()
		delete(l.cancel, id)
	}
}

func (l *logSubs) stopAll() {
	l.mu.Lock()
	for id, c := range l.cancel {
		c()
		delete(l.cancel, id)
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// publishLogs reads the subscription's tasks' logs from the executor, one
// reader per task, and sends them on one publish stream; each task ends
// with a done message. With refuse set, every task is ended with that
// error instead of being read.
func (a *Agent) publishLogs(ctx context.Context, client api.DispatcherClient, sub *api.LogSubscription, refuse string) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.PublishLogs(ctx)
	if err != nil {
		a.log.Warn("publish logs", "subscription", sub.GetId(), "err", err)
		return
	}
	out := make(chan *api.PublishLogsMessage, logQueue)
	var readers sync.WaitGroup
	for _, id := range sub.GetTaskIds() {
		readers.Add(1)
		go func() {
			defer readers.Done()
			a.readTaskLogs(ctx, sub, id, refuse, out)
		}()
	}
	go func() { readers.Wait(); close(out) }()
	for m := range out {
		if err := stream.Send(m); err != nil {
			cancel() // the leader refused or the subscription ended
			break
		}
	}
	for range out { // let the readers finish
	}
	if _, err := stream.CloseAndRecv(); err != nil && ctx.Err() == nil {
		a.log.Debug("publish logs ended", "subscription", sub.GetId(), "err", err)
	}
}

// readTaskLogs streams one task's container log into out, in whole lines,
// then a done message (with the reason if it could not be read). A task
// without a container (never started) simply has no log.
func (a *Agent) readTaskLogs(ctx context.Context, sub *api.LogSubscription, taskID, refuse string, out chan<- *api.PublishLogsMessage) {
	send := func(m *api.PublishLogsMessage) error {
		m.NodeId, m.SubscriptionId, m.TaskId = a.cfg.NodeID, sub.GetId(), taskID
		select {
		case out <- m:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if refuse != "" {
		_ = send(&api.PublishLogsMessage{Done: true, Error: refuse})
		return
	}
	var attrs []*api.LogAttr
	a.mu.Lock()
	if r := a.runners[taskID]; r != nil {
		r.mu.Lock()
		attrs = LogAttrs(r.task)
		r.mu.Unlock()
	}
	a.mu.Unlock()
	opts := executor.LogsOptions{Follow: sub.GetFollow(), Tail: int(sub.GetTail())}
	if ts := sub.GetSince(); ts != nil {
		opts.Since = ts.AsTime()
	}
	if ts := sub.GetUntil(); ts != nil {
		opts.Until = ts.AsTime()
	}
	first := true
	err := a.cfg.Executor.Logs(ctx, ContainerID(taskID), opts, func(es []executor.LogEntry) error {
		for _, m := range logMessages(es) {
			if first {
				m.Attrs, first = attrs, false
			}
			if err := send(m); err != nil {
				return err
			}
		}
		return nil
	})
	if ctx.Err() != nil {
		return
	}
	done := &api.PublishLogsMessage{Done: true}
	if err != nil && !errors.Is(err, executor.ErrNotFound) {
		done.Error = err.Error()
	}
	_ = send(done)
}

// logMessages packs entries into messages of at most maxLogChunk bytes of
// lines (a longer entry goes alone: the log writer cuts lines at 16 KiB).
func logMessages(es []executor.LogEntry) []*api.PublishLogsMessage {
	var (
		out  []*api.PublishLogsMessage
		cur  *api.PublishLogsMessage
		size int
	)
	for _, e := range es {
		if cur == nil || size+len(e.Line) > maxLogChunk {
			cur, size = &api.PublishLogsMessage{}, 0
			out = append(out, cur)
		}
		r := &api.LogRecord{Stderr: e.Stderr, Data: e.Line}
		if !e.Time.IsZero() {
			r.Time = timestamppb.New(e.Time)
		}
		cur.Records = append(cur.Records, r)
		size += len(e.Line)
	}
	return out
}
