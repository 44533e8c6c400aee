package raftnode

import (
	"errors"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// snapshotPolicy decides when this member snapshots its store. Raft's own
// rule (a fixed count of entries since the last snapshot) is blind to the
// store's size: with 100,000 tasks each snapshot marshals and seals tens of
// megabytes, and 2,048 entries of status reports come in seconds, so a
// busy manager spent its CPU and memory re-writing the whole store. Here a
// snapshot also waits until the entries written since the last one hold
// half as many bytes as it did: writing snapshots then costs at most twice
// the bytes the log itself takes, a small store still compacts every
// threshold entries, and a restart replays at most half a snapshot's worth
// of log on top of the snapshot.
type snapshotPolicy struct {
	threshold uint64 // entries since the last snapshot, at least
	// written counts the bytes of entry data stored in the log.
	written atomic.Uint64
	// at is the log's state when the last snapshot was taken: its index,
	// written then, and the snapshot's size.
	atIndex, atWritten, size atomic.Uint64
}

// due says whether a snapshot is due with the log at lastIndex.
func (p *snapshotPolicy) due(lastIndex uint64) bool {
	return snapshotDue(lastIndex-min(lastIndex, p.atIndex.Load()), p.written.Load()-p.atWritten.Load(), p.size.Load(), p.threshold)
}

// snapshotDue is the rule: threshold entries since the last snapshot, and
// at least half its size in bytes written since.
func snapshotDue(entries, bytes, lastSize, threshold uint64) bool {
	return entries >= threshold && bytes >= lastSize/2
}

// taken records the size of the snapshot just written (or restored).
func (p *snapshotPolicy) taken(size uint64) { p.size.Store(size) }

// began records that a snapshot starts: writes from now on count towards
// the next one.
func (p *snapshotPolicy) began(index uint64) {
	p.atIndex.Store(index)
	p.atWritten.Store(p.written.Load())
}

// countingLogs counts the entry bytes raft stores, for the policy.
type countingLogs struct {
	raft.LogStore
	p *snapshotPolicy
}

func (c countingLogs) StoreLog(l *raft.Log) error {
	c.p.written.Add(uint64(len(l.Data)))
	return c.LogStore.StoreLog(l)
}

func (c countingLogs) StoreLogs(logs []*raft.Log) error {
	var n uint64
	for _, l := range logs {
		n += uint64(len(l.Data))
	}
	c.p.written.Add(n)
	return c.LogStore.StoreLogs(logs)
}

// raftThreshold is what raft's own check is given: out of reach, since
// snapshotLoop asks for every snapshot.
const raftThreshold = math.MaxUint64 / 2

// snapshotLoop asks raft for a snapshot when the policy says one is due,
// checking every SnapshotInterval to twice it (raft's own jitter), until
// Shutdown.
func (n *Node) snapshotLoop() {
	for {
		wait := n.cfg.SnapshotInterval + rand.N(n.cfg.SnapshotInterval)
		select {
		case <-n.done:
			return
		case <-time.After(wait):
		}
		if !n.policy.due(n.raft.LastIndex()) {
			continue
		}
		err := n.raft.Snapshot().Error()
		if err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) && !errors.Is(err, raft.ErrRaftShutdown) {
			n.log.Warn("raft snapshot failed", "err", err)
		}
	}
}

// stopSnapshotEntries is how many applied entries past the last snapshot
// make a stopping member snapshot first (snapshotAtStop).
const stopSnapshotEntries = 256

// stopSnapshotWait bounds how long a stop waits for that snapshot.
const stopSnapshotWait = 10 * time.Second

// snapshotAtStop snapshots what this member has applied since its last
// snapshot, when that is stopSnapshotEntries or more. Raft restores a
// snapshot at start but applies the log after it only once a leader has
// committed an entry of its own term: a whole cluster restarted with up
// to the policy's threshold of entries past each snapshot (2,000-2,300 at
// 3,000 services) replayed them all after the election, before it could
// serve a read or take a write. Snapshotted at the stop, they are in the
// store before raft starts. A snapshot holds only applied, so committed,
// entries; one that fails or takes over stopSnapshotWait leaves the stop
// as it was.
func (n *Node) snapshotAtStop() {
	if n.cfg.DataDir == "" { // in memory: nothing outlives the process
		return
	}
	if applied := n.raft.AppliedIndex(); applied < n.policy.atIndex.Load()+stopSnapshotEntries {
		return
	}
	began := time.Now()
	f := n.raft.Snapshot()
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) && !errors.Is(err, raft.ErrRaftShutdown) {
			n.log.Warn("raft snapshot at stop failed", "err", err)
			return
		}
		n.log.Info("raft snapshot at stop", "applied", n.raft.AppliedIndex(), "took", time.Since(began).Round(time.Millisecond))
	case <-time.After(stopSnapshotWait):
		n.log.Warn("raft snapshot at stop: still running, stopping without it", "after", stopSnapshotWait)
	}
}
