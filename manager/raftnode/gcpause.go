package raftnode

import (
	"runtime/debug"
	"sync"
)

// A restore decodes a snapshot into the store: a heap that grows from
// almost nothing to the whole store (100 MiB at 100,000 tasks), nearly
// all of it kept. Go's collector, paced by GOGC, runs a cycle each time
// the heap doubles on the way, marking what is live so far, and finds
// next to no garbage: on a restarted manager that was a third of the CPU
// of opening its store, while every manager of the cluster waits for it
// before an election. The collector is off while a restore runs and the
// restore ends with one collection (fsm.Restore's FreeOSMemory), which
// also hands the decoding's few transient pages back.
//
// GOGC is one setting of the process; gcPauses counts the restores in
// flight (tests run several managers in one process), and the last to end
// puts the setting back.
var gcPauses struct {
	sync.Mutex
	n       int
	percent int
}

// pauseGC turns the collector off until the returned func is called.
func pauseGC() (resume func()) {
	gcPauses.Lock()
	if gcPauses.n == 0 {
		gcPauses.percent = debug.SetGCPercent(-1)
	}
	gcPauses.n++
	gcPauses.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			gcPauses.Lock()
			defer gcPauses.Unlock()
			if gcPauses.n--; gcPauses.n == 0 {
				debug.SetGCPercent(gcPauses.percent)
			}
		})
	}
}
