package clock

import (
	"testing"
	"time"
)

func TestFakeFiresOnlyWhatFellDue(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	c := NewFake(t0)
	var order []string
	late := c.AfterFunc(10*time.Second, func() { order = append(order, "late") })
	c.AfterFunc(5*time.Second, func() { order = append(order, "early") })
	stopped := c.AfterFunc(time.Second, func() { order = append(order, "stopped") })
	ch := c.NewTimer(3 * time.Second)
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop reports whether the timer was armed")
	}
	if n := c.Pending(); n != 3 {
		t.Fatalf("%d timers pending, want 3", n)
	}
	c.Advance(4 * time.Second)
	select {
	case got := <-ch.C():
		if !got.Equal(t0.Add(4 * time.Second)) {
			t.Fatalf("timer received %v", got)
		}
	default:
		t.Fatal("a 3 s timer did not fire after 4 s")
	}
	if len(order) != 0 {
		t.Fatalf("fired too early: %v", order)
	}
	c.Advance(10 * time.Second)
	if len(order) != 2 || order[0] != "early" || order[1] != "late" {
		t.Fatalf("fired %v, want early then late", order)
	}
	if late.Stop() {
		t.Fatal("a fired timer stopped")
	}
	if !c.Now().Equal(t0.Add(14 * time.Second)) {
		t.Fatalf("now %v", c.Now())
	}
}

func TestFakeTimerOfNoTimeHasFired(t *testing.T) {
	c := NewFake(time.Unix(0, 0))
	select {
	case <-c.NewTimer(0).C():
	default:
		t.Fatal("a timer of 0 did not fire at once")
	}
}

func TestRealClockMoves(t *testing.T) {
	c := Real()
	tm := c.NewTimer(time.Millisecond)
	<-tm.C()
	done := make(chan struct{})
	c.AfterFunc(time.Millisecond, func() { close(done) })
	<-done
}
