// Package clock is minsw's one time source for code whose behaviour
// depends on time (heartbeat deadlines, restart delays, update monitors,
// back-off): Real in production, Fake in tests, so no test sleeps to let
// time pass. It owns nothing else.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time and arms timers.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer whose channel receives the time once d has
	// passed.
	NewTimer(d time.Duration) Timer
	// AfterFunc calls f in its own goroutine once d has passed (Fake calls
	// it from Advance).
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is the part of *time.Timer minsw uses.
type Timer interface {
	// C is the timer's channel; nil for an AfterFunc timer.
	C() <-chan time.Time
	// Stop reports whether it stopped the timer before it fired.
	Stop() bool
}

// Real is the system clock.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time                 { return time.Now() }
func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }
func (realClock) AfterFunc(d time.Duration, f func()) Timer {
	return realTimer{time.AfterFunc(d, f)}
}

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }

// Fake is a clock that moves only when Advance is called; timers that fall
// due then fire: a channel timer receives the new time, an AfterFunc
// timer's function runs in Advance's goroutine, after the clock's lock is
// released (so it may use the clock).
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

// NewFake returns a fake clock reading now.
func NewFake(now time.Time) *Fake { return &Fake{now: now} }

type fakeTimer struct {
	c     *Fake
	at    time.Time
	ch    chan time.Time
	f     func()
	fired bool // fired or stopped
}

// Now returns the fake time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer arms a channel timer; one of d <= 0 has fired already.
func (c *Fake) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		t.fired = true
		return t
	}
	c.timers = append(c.timers, t)
	return t
}

// AfterFunc arms a timer that calls f when Advance passes its time.
func (c *Fake) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

// Advance moves the clock on by d and fires the timers that fell due, in
// the order they fall due.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	keep := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.fired:
		case !t.at.After(c.now):
			t.fired = true
			due = append(due, t)
		default:
			keep = append(keep, t)
		}
	}
	clear(c.timers[len(keep):])
	c.timers = keep
	now := c.now
	c.mu.Unlock()
	sortByTime(due)
	for _, t := range due {
		if t.ch != nil {
			t.ch <- now
		} else {
			t.f()
		}
	}
}

// Pending is the number of armed timers (a test waits for a loop to arm
// its timer before advancing past it).
func (c *Fake) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.fired {
			n++
		}
	}
	return n
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.fired
	t.fired = true
	return was
}

func sortByTime(ts []*fakeTimer) {
	for i := 1; i < len(ts); i++ {
		for j := i; j > 0 && ts[j].at.Before(ts[j-1].at); j-- {
			ts[j], ts[j-1] = ts[j-1], ts[j]
		}
	}
}
