package raftnode

import (
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/minsw/minsw/manager/store"
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

// A member that starts and hears no leader stands after its start jitter,
// not after raft's own first look (one to two heartbeat timeouts): when
// every manager restarts at once, that wait was most of the time before
// the cluster could take a write. With a 10 s timeout raft alone cannot
// elect before 10 s; the watch looks after 1 to 5 s.
func TestAStartedMemberStandsBeforeItsHeartbeatTimeout(t *testing.T) {
	_, tr := raft.NewInmemTransport("m0")
	cfg := fastConfig("m0", tr)
	cfg.Bootstrap = true
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 10*time.Second, 10*time.Second, 5*time.Second
	began := time.Now()
	n, err := New(cfg, store.New(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	for !n.IsLeader() && time.Since(began) < 2*cfg.HeartbeatTimeout {
		time.Sleep(20 * time.Millisecond)
	}
	if took := time.Since(began); !n.IsLeader() || took >= cfg.HeartbeatTimeout {
		t.Fatalf("leader: %v after %v; raft's own timer looks only after %v", n.IsLeader(), took, cfg.HeartbeatTimeout)
	}
}

func TestStartJitterIsWithinATenthToHalfATimeout(t *testing.T) {
	for range 1000 {
		if j := startJitter(time.Second); j < 100*time.Millisecond || j >= 500*time.Millisecond {
			t.Fatalf("start jitter %v", j)
		}
	}
}
