package raftnode

import (
	"math/rand/v2"
	"time"

	"github.com/hashicorp/raft"
)

// A follower of hashicorp/raft checks for a silent leader on a timer that
// fires every one to two heartbeat timeouts, so it notices a dead leader
// between one and three timeouts after the leader's last word; and the
// other follower refuses its (pre-)vote until it has noticed too. A leader
// kill cost about two timeouts before an election could even start.
//
// watchLeader checks every tenth of a timeout instead and, once the leader
// has been silent for the timeout plus this member's jitter (up to a third
// of it, drawn afresh after each contact, so two followers rarely stand at
// once and split the vote), makes raft look at its timer now. Raft then
// applies its own rule (no contact for a whole timeout starts an election):
// this changes when raft looks, never what it decides.
//
// At start, before any leader has been heard, raft's first look comes one
// to two timeouts after the member started: when every manager restarts at
// once nobody can lead for 500 ms to a second however quickly the stores
// open. A member that has neither heard a leader nor seen a newer term
// (another's vote request) since it started looks once after a start
// jitter of its own (startJitter); raft then finds no contact ever and
// stands (a pre-vote first: with a leader alive, as when one manager
// restarts, the others refuse it and nothing changes).
func (n *Node) watchLeader(ht time.Duration) {
	t := time.NewTicker(ht / 10)
	defer t.Stop()
	began, startTerm, atStart := time.Now(), n.raft.CurrentTerm(), startJitter(ht)
	// seen is the leader contact the current limit was drawn for; nudged
	// the contact whose silence was already reported to raft: a member
	// nudges once per silence, and again only after it has heard from a
	// leader since (a follower that just voted for a candidate must leave
	// it its election, not start its own at once).
	var seen, nudged time.Time
	var limit time.Duration
	for {
		select {
		case <-n.done:
			return
		case <-t.C:
		}
		if n.raft.State() != raft.Follower {
			continue
		}
		last := n.raft.LastContact()
		if last.IsZero() && atStart > 0 && time.Since(began) >= atStart {
			if n.raft.CurrentTerm() == startTerm {
				n.nudgeHeartbeatTimer()
			}
			atStart = 0 // once: later silences are raft's own timer's, then this watch's
			continue
		}
		if last.IsZero() || last.Equal(nudged) {
			continue // no leader heard since start (raft's own timer elects one), or this silence is raft's already
		}
		if !last.Equal(seen) {
			seen, limit = last, ht+rand.N(ht/3)
		}
		if time.Since(last) < limit {
			continue
		}
		n.nudgeHeartbeatTimer()
		nudged = last
	}
}

// nudgeHeartbeatTimer makes a follower check its heartbeat timer at once:
// raft does so when its heartbeat timeout shrinks, so the timeout is
// lowered by a millisecond and put back.
func (n *Node) nudgeHeartbeatTimer() {
	rc := n.raft.ReloadableConfig()
	short := rc
	short.HeartbeatTimeout -= time.Millisecond
	if err := n.raft.ReloadConfig(short); err != nil {
		n.log.Warn("raft: could not check the leader's heartbeat early", "err", err)
		return
	}
	if err := n.raft.ReloadConfig(rc); err != nil {
		n.log.Warn("raft: could not restore the heartbeat timeout", "err", err)
	}
}

// startJitter is when a member that has heard no leader since it started
// first looks for one: between a tenth and half a heartbeat timeout, drawn
// per member so the managers of a restarted cluster rarely stand at once.
func startJitter(ht time.Duration) time.Duration {
	return ht/10 + rand.N(ht*2/5)
}
