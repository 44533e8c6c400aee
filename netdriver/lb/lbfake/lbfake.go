// Package lbfake is an in-memory lb.Backend for unit tests: it checks what
// it is given as the kernel backends do and keeps it, so a test reads back
// the services a caller programmed without root or a kernel.
package lbfake

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/minsw/minsw/netdriver/lb"
)

// Backend holds services by mark.
type Backend struct {
	mu      sync.Mutex
	svcs    map[uint32]lb.Service
	applies int
	closed  bool
}

// New returns an empty backend.
func New() *Backend { return &Backend{svcs: map[uint32]lb.Service{}} }

var _ lb.Backend = (*Backend)(nil)

// Name is the backend's name in `minsw lb inspect`.
func (b *Backend) Name() string { return "fake" }

// Apply sets and deletes services as one transaction: a malformed service
// or a VIP held by two marks changes nothing.
func (b *Backend) Apply(set []lb.Service, del []uint32) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("lbfake: backend closed")
	}
	next := make(map[uint32]lb.Service, len(b.svcs)+len(set))
	for m, s := range b.svcs {
		next[m] = s
	}
	for _, m := range del {
		delete(next, m)
	}
	for _, s := range set {
		if err := s.Validate(); err != nil {
			return err
		}
		s.Backends = slices.Clone(s.Backends)
		s.Draining = slices.Clone(s.Draining)
		next[s.Mark] = s
	}
	vips := map[string]uint32{}
	for m, s := range next {
		if o, dup := vips[s.VIP.String()]; dup {
			return fmt.Errorf("lbfake: VIP %v on marks %#x and %#x", s.VIP, o, m)
		}
		vips[s.VIP.String()] = m
	}
	b.svcs = next
	b.applies++
	return nil
}

// Services returns what the backend holds, sorted by mark.
func (b *Backend) Services() ([]lb.Service, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errors.New("lbfake: backend closed")
	}
	out := make([]lb.Service, 0, len(b.svcs))
	for _, s := range b.svcs {
		s.Backends = slices.Clone(s.Backends)
		s.Draining = slices.Clone(s.Draining)
		out = append(out, s)
	}
	slices.SortFunc(out, func(x, y lb.Service) int { return int(x.Mark) - int(y.Mark) })
	return out, nil
}

// Close drops everything.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.svcs = map[uint32]lb.Service{}
	b.closed = true
	return nil
}

// Applies counts the transactions that changed something.
func (b *Backend) Applies() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.applies
}
