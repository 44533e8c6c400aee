package engineapi

import (
	"context"
	"sync"
	"time"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// eventLog keeps the cluster's recent changes for `docker events --since`,
// as docker's daemon keeps its last events in memory: one Control.Watch
// per daemon, held while the node is a manager, feeds a bounded ring and
// every open /events stream.
type eventLog struct {
	mu   sync.Mutex
	ring []*api.WatchEvent
	next int
	full bool
	subs map[chan *api.WatchEvent]struct{}
}

// eventLogSize is how many past events `since` can replay.
const eventLogSize = 1024

func newEventLog() *eventLog {
	return &eventLog{ring: make([]*api.WatchEvent, eventLogSize), subs: map[chan *api.WatchEvent]struct{}{}}
}

// run keeps a watch open until ctx ends, retrying while the node is not a
// manager (or between leaders).
func (l *eventLog) run(ctx context.Context, c api.ControlClient) {
	delay := 500 * time.Millisecond
	for ctx.Err() == nil {
		stream, err := c.Watch(ctx, &api.WatchRequest{})
		if err == nil {
			for {
				ev, rerr := stream.Recv()
				if rerr != nil {
					break
				}
				delay = 500 * time.Millisecond
				l.add(ev)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

func (l *eventLog) add(ev *api.WatchEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ring[l.next] = ev
	l.next = (l.next + 1) % len(l.ring)
	if l.next == 0 {
		l.full = true
	}
	for ch := range l.subs {
		select {
		case ch <- ev:
		default:
			// A reader that cannot keep up loses its stream rather than
			// holding everyone up.
			delete(l.subs, ch)
			close(ch)
		}
	}
}

// subscribe returns the kept events at or after since (none for a zero
// since) and a channel of the ones to come; cancel ends it.
func (l *eventLog) subscribe(since time.Time) (past []*api.WatchEvent, live <-chan *api.WatchEvent, cancel func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !since.IsZero() {
		var all []*api.WatchEvent
		if l.full {
			all = append(all, l.ring[l.next:]...)
		}
		all = append(all, l.ring[:l.next]...)
		for _, ev := range all {
			if !ev.GetTime().AsTime().Before(since) {
				past = append(past, ev)
			}
		}
	}
	ch := make(chan *api.WatchEvent, 256)
	l.subs[ch] = struct{}{}
	return past, ch, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if _, ok := l.subs[ch]; ok {
			delete(l.subs, ch)
			close(ch)
		}
	}
}
