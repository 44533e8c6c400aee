package raftnode

import (
	"testing"
	"time"
)

// When the leader dies, the followers' watch makes raft look at its
// heartbeat timer early: a new leader is elected, and the heartbeat
// timeout each survivor runs with is the configured one again (the nudge
// lowers it for an instant only).
func TestLeaderGoneSurvivorsElectAndKeepTheirTimeout(t *testing.T) {
	ms := cluster(t, 3, nil)
	// Every member holds the whole configuration before the leader goes
	// (one that lacks the last member's addition would refuse its vote).
	createThroughLeader(t, ms, "before")
	waitApplied(t, ms, []string{"before"})
	old := waitLeader(t, ms)
	want := old.node.raft.ReloadableConfig().HeartbeatTimeout
	var survivors []*member
	for _, m := range ms {
		if m != old {
			survivors = append(survivors, m)
		}
	}
	if err := old.node.Shutdown(); err != nil {
		t.Fatal(err)
	}
	old.node = nil
	for _, m := range survivors { // a dead process refuses connections
		m.trans.Disconnect(old.trans.LocalAddr())
	}
	createThroughLeader(t, survivors, "after")
	// A survivor may be nudging again right then (a follower starved of
	// CPU for a heartbeat timeout does): the lowered timeout must be put
	// back, so look until it is, for at most 10 s.
	for _, m := range survivors {
		deadline := time.Now().Add(10 * time.Second)
		for got := m.node.raft.ReloadableConfig().HeartbeatTimeout; got != want; got = m.node.raft.ReloadableConfig().HeartbeatTimeout {
			if time.Now().After(deadline) {
				t.Fatalf("%s runs with a heartbeat timeout of %v, want %v", m.id, got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// A nudge leaves raft's reloadable settings as they were.
func TestNudgeRestoresTheHeartbeatTimeout(t *testing.T) {
	ms := cluster(t, 1, nil)
	n := ms[0].node
	before := n.raft.ReloadableConfig()
	n.nudgeHeartbeatTimer()
	if after := n.raft.ReloadableConfig(); after != before {
		t.Fatalf("settings after a nudge %+v, before %+v", after, before)
	}
	if before.HeartbeatTimeout != 300*time.Millisecond {
		t.Fatalf("test cluster runs with %v", before.HeartbeatTimeout)
	}
}
