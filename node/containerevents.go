package node

import (
	"context"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/executor"
)

// containerEvents keeps what happened to this node's task containers, as
// docker's daemon keeps its recent events: a bounded ring for `since`, and
// every open Events stream. Its events are recorded by eventingExecutor,
// the executor every part of the node calls.
type containerEvents struct {
	mu   sync.Mutex
	ring []*api.ContainerEvent
	next int
	full bool
	subs map[chan *api.ContainerEvent]struct{}
	// known are the containers' names, images and labels, by ID, so the
	// events after create carry them too.
	known map[string]*api.ContainerEvent
	now   func() time.Time
}

const containerEventsKept = 1024

func newContainerEvents() *containerEvents {
	return &containerEvents{ring: make([]*api.ContainerEvent, containerEventsKept), subs: map[chan *api.ContainerEvent]struct{}{},
		known: map[string]*api.ContainerEvent{}, now: time.Now}
}

// record adds an event of container id; about (may be nil) names it.
func (c *containerEvents) record(id, action string, exitCode int, about *executor.Status) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := c.known[id]
	if about != nil {
		k = &api.ContainerEvent{Name: about.Name, Image: about.Image, Labels: about.Labels}
		c.known[id] = k
	}
	ev := &api.ContainerEvent{Id: id, Action: action, Time: timestamppb.New(c.now()), ExitCode: int32(exitCode)}
	if k != nil {
		ev.Name, ev.Image, ev.Labels = k.GetName(), k.GetImage(), k.GetLabels()
	}
	if action == "destroy" {
		delete(c.known, id)
	}
	c.ring[c.next] = ev
	c.next = (c.next + 1) % len(c.ring)
	c.full = c.full || c.next == 0
	for ch := range c.subs {
		select {
		case ch <- ev:
		default:
			// A reader that cannot keep up loses its stream.
			delete(c.subs, ch)
			close(ch)
		}
	}
}

func (c *containerEvents) knows(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.known[id] != nil
}

// subscribe returns the kept events at or after since (none for a zero
// since) and a channel of those to come; cancel ends it.
func (c *containerEvents) subscribe(since time.Time) (past []*api.ContainerEvent, live <-chan *api.ContainerEvent, cancel func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !since.IsZero() {
		var all []*api.ContainerEvent
		if c.full {
			all = append(all, c.ring[c.next:]...)
		}
		for _, ev := range append(all, c.ring[:c.next]...) {
			if !ev.GetTime().AsTime().Before(since) {
				past = append(past, ev)
			}
		}
	}
	ch := make(chan *api.ContainerEvent, 256)
	c.subs[ch] = struct{}{}
	return past, ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if _, ok := c.subs[ch]; ok {
			delete(c.subs, ch)
			close(ch)
		}
	}
}

// eventingExecutor is the node's executor, recording what it does to
// containers as docker's container events: create, start, kill (a stop
// asked for), die (the process exited), stop (a stop asked for is done),
// destroy.
type eventingExecutor struct {
	executor.Executor
	events *containerEvents
}

func (e *eventingExecutor) Create(ctx context.Context, spec executor.Spec) error {
	if err := e.Executor.Create(ctx, spec); err != nil {
		return err
	}
	e.events.record(spec.ID, "create", 0, &executor.Status{Name: spec.Name, Image: spec.Image, Labels: spec.Labels})
	return nil
}

func (e *eventingExecutor) Start(ctx context.Context, id string) error {
	if err := e.Executor.Start(ctx, id); err != nil {
		return err
	}
	e.events.record(id, "start", 0, e.about(ctx, id))
	return nil
}

func (e *eventingExecutor) Stop(ctx context.Context, id string, timeout time.Duration) error {
	about := e.about(ctx, id)
	e.events.record(id, "kill", 0, about)
	st, ierr := e.Executor.Inspect(ctx, id)
	if err := e.Executor.Stop(ctx, id, timeout); err != nil {
		return err
	}
	// docker's daemon says "stop" once a stop of a running container is
	// done.
	if ierr == nil && st.State == executor.StateRunning {
		e.events.record(id, "stop", 0, about)
	}
	return nil
}

func (e *eventingExecutor) Remove(ctx context.Context, id string) error {
	about := e.about(ctx, id)
	if err := e.Executor.Remove(ctx, id); err != nil {
		return err
	}
	e.events.record(id, "destroy", 0, about)
	return nil
}

// Events passes the executor's events on, recording each exit as die.
func (e *eventingExecutor) Events(ctx context.Context) (<-chan executor.Event, error) {
	in, err := e.Executor.Events(ctx)
	if err != nil {
		return nil, err
	}
	out := make(chan executor.Event)
	go func() {
		defer close(out)
		for ev := range in {
			if ev.State == executor.StateExited {
				e.events.record(ev.ID, "die", ev.ExitCode, e.about(ctx, ev.ID))
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// about is what the events need to name a container the executor had
// before this node recorded its create (a daemon restart adopts them).
func (e *eventingExecutor) about(ctx context.Context, id string) *executor.Status {
	if e.events.knows(id) {
		return nil
	}
	st, err := e.Executor.Inspect(ctx, id)
	if err != nil {
		return nil
	}
	return &st
}

// Events streams this node's container events.
func (c *containersAPI) Events(r *api.ContainerEventsRequest, stream api.Containers_EventsServer) error {
	var since, until time.Time
	if r.GetSince() != nil {
		since = r.GetSince().AsTime()
	}
	if r.GetUntil() != nil {
		until = r.GetUntil().AsTime()
	}
	past, live, cancel := c.n.ctrEvents.subscribe(since)
	defer cancel()
	for _, ev := range past {
		if !until.IsZero() && ev.GetTime().AsTime().After(until) {
			return nil
		}
		if err := stream.Send(ev); err != nil {
			return err
		}
	}
	var untilC <-chan time.Time
	if !until.IsZero() {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		untilC = t.C
	}
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case <-untilC:
			return nil
		case ev, ok := <-live:
			if !ok {
				return errdefs.Unavailable("this reader of container events fell behind: open the stream again")
			}
			if err := stream.Send(ev); err != nil {
				return err
			}
		}
	}
}

// ImageHealthcheck passes the executor's image health checks on (the
// agent asks for them by interface); an executor without them has none.
func (e *eventingExecutor) ImageHealthcheck(ctx context.Context, image string) (*executor.Healthcheck, error) {
	if ih, ok := e.Executor.(executor.ImageHealth); ok {
		return ih.ImageHealthcheck(ctx, image)
	}
	return nil, nil
}
