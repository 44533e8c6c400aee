package agent

import (
	"context"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// maxReportsPerCall bounds one UpdateTaskStatus call: a node that starts
// (or lost its manager while running) 25,000 tasks has as many reports
// queued, and one call carrying them all passed gRPC's 4 MiB message limit,
// was refused, and was tried again whole, for ever.
const maxReportsPerCall = 1000

// reporter sends task status to the dispatcher: one call at a time, each
// carrying the latest status of up to maxReportsPerCall tasks that changed
// since the last, so a task racing through accepted…running costs one call.
// What a call could not deliver stays queued (unless a newer status
// replaced it) and goes with the next session.
type reporter struct {
	a       *Agent
	mu      sync.Mutex
	pending map[string]*api.TaskStatus
	kick    chan struct{}
}

func newReporter(a *Agent) *reporter {
	return &reporter{a: a, pending: map[string]*api.TaskStatus{}, kick: make(chan struct{}, 1)}
}

func (r *reporter) put(taskID string, st *api.TaskStatus) {
	r.mu.Lock()
	r.pending[taskID] = st
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *reporter) run(ctx context.Context) {
	a := r.a
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		}
		if d := a.cfg.StatusBatchDelay; d > 0 && !sleep(ctx, a.clock, d) {
			return
		}
		for {
			r.mu.Lock()
			if len(r.pending) == 0 {
				r.mu.Unlock()
				break
			}
			batch := make(map[string]*api.TaskStatus, min(len(r.pending), maxReportsPerCall))
			req := &api.UpdateTaskStatusRequest{NodeId: a.cfg.NodeID}
			for id, st := range r.pending {
				if len(batch) == maxReportsPerCall {
					break // the rest go in the next call, at once
				}
				batch[id] = st
				req.Updates = append(req.Updates, &api.TaskStatusUpdate{TaskId: id, Status: st})
			}
			r.mu.Unlock()

			s, changed := a.currentSession()
			if s == nil {
				select {
				case <-ctx.Done():
					return
				case <-changed:
				}
				continue
			}
			req.SessionId = s.id
			cctx, cancel := context.WithTimeout(ctx, a.cfg.RPCTimeout)
			_, err := s.client.UpdateTaskStatus(cctx, req)
			cancel()
			switch {
			case err == nil:
				r.forget(batch)
			case status.Code(err) == codes.PermissionDenied || status.Code(err) == codes.InvalidArgument:
				// The manager will never take these: keep no loop going.
				a.log.Error("task status refused", "err", err)
				r.forget(batch)
			default:
				if ctx.Err() != nil {
					return
				}
				a.log.Warn("task status not delivered", "tasks", len(batch), "err", err)
				if sessionGone(err) {
					s.end(err)
				}
				// Wait for a new session (or a while) before trying again.
				t := a.clock.NewTimer(a.cfg.ReconnectDelay)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-changed:
				case <-t.C():
				}
				t.Stop()
			}
		}
	}
}

// forget drops what was delivered, keeping statuses replaced meanwhile.
func (r *reporter) forget(sent map[string]*api.TaskStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, st := range sent {
		if r.pending[id] == st {
			delete(r.pending, id)
		}
	}
}
