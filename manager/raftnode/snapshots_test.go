package raftnode

import (
	"fmt"
	"testing"
)

func TestSnapshotDue(t *testing.T) {
	const threshold = 2048
	for _, c := range []struct {
		name                    string
		entries, bytes, lastLen uint64
		want                    bool
	}{
		{"no snapshot yet: the entry count decides", threshold, 10, 0, true},
		{"too few entries", threshold - 1, 1 << 30, 0, false},
		{"a small store compacts every threshold entries", threshold, 400 << 10, 8 << 10, true},
		{"a large store waits for half its size in new entries", threshold, 20 << 20, 60 << 20, false},
		{"half a large store's size written: due", 50_000, 30 << 20, 60 << 20, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := snapshotDue(c.entries, c.bytes, c.lastLen, threshold); got != c.want {
				t.Errorf("snapshotDue(%d entries, %d bytes, last %d) = %v, want %v", c.entries, c.bytes, c.lastLen, got, c.want)
			}
		})
	}
}

// The policy counts what the log stores and restarts its count at each
// snapshot.
func TestSnapshotPolicyCountsWrittenBytesSinceTheLastSnapshot(t *testing.T) {
	p := &snapshotPolicy{threshold: 2}
	p.written.Add(100)
	p.began(10)
	p.taken(1000)
	p.written.Add(400)
	if p.due(20) {
		t.Fatal("due with 400 bytes written since a 1000-byte snapshot")
	}
	p.written.Add(100)
	if !p.due(20) {
		t.Fatal("not due with 500 bytes and 10 entries since a 1000-byte snapshot")
	}
	if p.due(11) {
		t.Fatal("due with 1 entry since the snapshot, threshold 2")
	}
}

// A member that stops with entries applied past its last snapshot
// snapshots them first: started again, its store holds them before any
// election (raft replays the log after a snapshot only once a leader of
// the new term has committed), so a restarted cluster serves sooner.
func TestStopSnapshotsWhatWasAppliedSinceTheLastSnapshot(t *testing.T) {
	dir, c := t.TempDir(), testCipher(t)
	n, st, err := openSolo(t, dir, c)
	if err != nil {
		t.Fatal(err)
	}
	waitLeader(t, []*member{{node: n}})
	for i := 0; i < stopSnapshotEntries+10; i++ {
		if err := createService(st, fmt.Sprintf("svc-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	applied := n.raft.AppliedIndex()
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
	n2, st2, err := openSolo(t, dir, c)
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Shutdown()
	// Read at once: no leader has committed anything yet in this run.
	if got := n2.raft.AppliedIndex(); got < applied {
		t.Fatalf("started with entries up to %d in the store, %d were applied at the stop", got, applied)
	}
	if got := len(serviceNames(st2)); got != stopSnapshotEntries+10 {
		t.Fatalf("%d services in the store at start, want %d", got, stopSnapshotEntries+10)
	}
}
