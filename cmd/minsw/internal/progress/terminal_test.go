package progress

import (
	"fmt"
	"testing"
	"time"
)

// The terminal draws from mpb's goroutines, whose decorators read the view
// under the display's lock; Update must not hold that lock while it asks
// mpb to move a bar, or a redraw that comes in between waits for the lock
// while Update waits for the redraw: the CLI hung at "assigned" (seen in
// TestServiceCreateProgressTTY under load).
func TestTerminalUpdatesWhileRedrawing(t *testing.T) {
	var out syncBuffer
	term := NewTerminal(&out)
	done := make(chan struct{})
	go func() {
		defer close(done)
		stop := time.Now().Add(1500 * time.Millisecond)
		for i := 0; i < 20000 && time.Now().Before(stop); i++ {
			v := View{Status: Status{Desired: 3}}
			for s := 1; s <= 3; s++ {
				v.Status.Slots = append(v.Status.Slots, Slot{Label: fmt.Sprintf("%d/3", s), State: "assigned", Step: int64(i+s) % (TotalSteps + 1)})
			}
			term.Update(v)
		}
		term.Close(View{Status: Status{Desired: 3}}, nil)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the display deadlocked: Update or Close never returned")
	}
}
