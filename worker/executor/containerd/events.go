package containerd

import (
	"context"
	"fmt"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/events"
	"github.com/containerd/typeurl/v2"

	"github.com/minsw/minsw/worker/executor"
)

// Events delivers an Event each time a container's main process exits, until
// ctx ends or the executor closes. If the stream from containerd breaks it
// is opened again, and an exit event is sent for every container found
// exited then (an exit may have been missed; receivers treat repeats as
// no-ops).
func (e *Executor) Events(ctx context.Context) (<-chan executor.Event, error) {
	ctx, cancel := context.WithCancel(e.ns(ctx))
	stop := context.AfterFunc(e.closing, cancel)
	filter := fmt.Sprintf(`topic=="/tasks/exit",namespace==%q`, e.cfg.Namespace)
	msgs, errs := e.client.Subscribe(ctx, filter)
	out := make(chan executor.Event)
	go func() {
		defer close(out)
		defer stop()
		defer cancel()
		for {
			if !e.forwardExits(ctx, msgs, errs, out) {
				return
			}
			// Reconnect after a pause, then report what exited meanwhile.
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			msgs, errs = e.client.Subscribe(ctx, filter)
			if !e.sendExited(ctx, out) {
				return
			}
		}
	}()
	return out, nil
}

// forwardExits copies exit events to out; false means ctx ended.
func (e *Executor) forwardExits(ctx context.Context, msgs <-chan *events.Envelope, errs <-chan error, out chan<- executor.Event) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case err := <-errs:
			if ctx.Err() != nil {
				return false
			}
			e.log.Warn("containerd event stream broke", "err", err)
			return true
		case m := <-msgs:
			if m == nil {
				continue
			}
			v, err := typeurl.UnmarshalAny(m.Event)
			if err != nil {
				continue
			}
			exit, ok := v.(*apievents.TaskExit)
			if !ok || exit.ID != exit.ContainerID {
				// An exec process, not the container's.
				continue
			}
			ev := executor.Event{
				ID:       exit.ContainerID,
				State:    executor.StateExited,
				ExitCode: int(exit.ExitStatus),
				At:       exit.ExitedAt.AsTime(),
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return false
			}
		}
	}
}

func (e *Executor) sendExited(ctx context.Context, out chan<- executor.Event) bool {
	all, err := e.List(ctx)
	if err != nil {
		return ctx.Err() == nil
	}
	for _, s := range all {
		if s.State != executor.StateExited {
			continue
		}
		select {
		case out <- executor.Event{ID: s.ID, State: s.State, ExitCode: s.ExitCode, At: s.FinishedAt}:
		case <-ctx.Done():
			return false
		}
	}
	return true
}
