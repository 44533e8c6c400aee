package raftnode

import (
	"runtime/debug"
	"testing"
	"time"

	"github.com/minsw/minsw/internal/eventually"
)

func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// Restores in flight keep the collector off until the last ends, and the
// setting the process had before comes back (a second resume changes
// nothing).
func TestPauseGCUntilTheLastRestoreEnds(t *testing.T) {
	// A restore of an earlier test may still be collecting (its pause
	// ends with that collection): the setting is the process's.
	eventually.Within(t, 30*time.Second, "no restore still collecting", func() bool {
		gcPauses.Lock()
		defer gcPauses.Unlock()
		return gcPauses.n == 0
	})
	defer debug.SetGCPercent(debug.SetGCPercent(70))
	a := pauseGC()
	b := pauseGC()
	if p := gcPercent(); p != -1 {
		t.Fatalf("GOGC %d while two restores run, want off", p)
	}
	a()
	a()
	if p := gcPercent(); p != -1 {
		t.Fatalf("GOGC %d while one restore runs, want off", p)
	}
	b()
	if p := gcPercent(); p != 70 {
		t.Fatalf("GOGC %d after the restores, want 70 as before", p)
	}
}
