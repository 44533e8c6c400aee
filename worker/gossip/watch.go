package gossip

import "sync"

// Watch streams the events of network ("" for every network this node is
// on), starting with a create event for each entry already there, so a
// subscriber needs no separate read. Events are queued without bound, so a
// slow subscriber never stalls gossip; it must keep reading or call cancel.
// The channel is closed by cancel or Close.
func (d *DB) Watch(network string) (<-chan Event, func()) {
	s := &subscriber{
		network: network,
		ch:      make(chan Event),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	d.mu.Lock()
	var nets []string
	if network == "" {
		nets = sortedKeys(d.t.nets)
	} else {
		nets = []string{network}
	}
	var initial []Event
	for _, n := range nets {
		for _, e := range d.entriesLocked(n) {
			initial = append(initial, Event{Type: EventCreate, Network: n, Key: e.Key, Value: e.Value, Owner: e.Owner})
		}
	}
	s.push(initial)
	d.subs[s] = struct{}{}
	d.mu.Unlock()
	s.wg.Add(1)
	go s.run()
	return s.ch, func() {
		d.mu.Lock()
		delete(d.subs, s)
		d.mu.Unlock()
		s.cancel()
	}
}

type subscriber struct {
	network string
	ch      chan Event
	mu      sync.Mutex
	q       []Event
	wake    chan struct{}
	done    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

func (s *subscriber) push(evs []Event) {
	s.mu.Lock()
	for _, e := range evs {
		if s.network == "" || e.Network == s.network {
			s.q = append(s.q, e)
		}
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscriber) run() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		q := s.q
		s.q = nil
		s.mu.Unlock()
		for _, e := range q {
			select {
			case s.ch <- e:
			case <-s.done:
				return
			}
		}
		if len(q) > 0 {
			continue
		}
		select {
		case <-s.wake:
		case <-s.done:
			return
		}
	}
}

func (s *subscriber) cancel() {
	s.once.Do(func() {
		close(s.done)
		s.wg.Wait()
		close(s.ch)
	})
}
