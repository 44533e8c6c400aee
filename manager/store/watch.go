package store

import "sync"

// EventKind says what happened to an object.
type EventKind int

const (
	EventCreate EventKind = iota + 1
	EventUpdate
	EventDelete
	// EventReset means the whole store was replaced (snapshot restore):
	// watchers must re-read everything.
	EventReset
)

// Event is one committed change. Object is the new version (the removed one
// for EventDelete); Old is the previous version for EventUpdate.
type Event struct {
	Kind   EventKind
	Table  string
	Object Object
	Old    Object
}

// Watcher receives every committed event in order. Its queue is unbounded so
// a slow loop never blocks the FSM; C signals that events are waiting.
type Watcher struct {
	C <-chan struct{}

	c      chan struct{}
	s      *Store
	mu     sync.Mutex
	queue  []Event
	filter func(Event) bool
}

// Watch returns a watcher for events passing filter (nil: all). Call Close
// when done.
func (s *Store) Watch(filter func(Event) bool) *Watcher {
	c := make(chan struct{}, 1)
	w := &Watcher{C: c, c: c, s: s, filter: filter}
	s.watchMu.Lock()
	s.watchers[w] = struct{}{}
	s.watchMu.Unlock()
	return w
}

// Drain returns and clears the waiting events.
func (w *Watcher) Drain() []Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.queue
	w.queue = nil
	return q
}

// Close stops delivery.
func (w *Watcher) Close() {
	w.s.watchMu.Lock()
	delete(w.s.watchers, w)
	w.s.watchMu.Unlock()
}

func (s *Store) publish(events []Event) {
	if len(events) == 0 {
		return
	}
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	for w := range s.watchers {
		w.mu.Lock()
		n := 0
		for _, e := range events {
			if e.Kind == EventReset || w.filter == nil || w.filter(e) {
				w.queue = append(w.queue, e)
				n++
			}
		}
		w.mu.Unlock()
		if n > 0 {
			select {
			case w.c <- struct{}{}:
			default:
			}
		}
	}
}

// ForTables is a watch filter passing events of the named tables.
func ForTables(tables ...string) func(Event) bool {
	return func(e Event) bool {
		for _, t := range tables {
			if e.Table == t {
				return true
			}
		}
		return false
	}
}
