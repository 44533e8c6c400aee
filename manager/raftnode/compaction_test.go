package raftnode

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/minsw/minsw/manager/store"
)

// A follower that was down while the leader's log was compacted past it
// catches up by InstallSnapshot: the leader no longer has the entries it
// missed. The follower never snapshots by itself here (its threshold is out
// of reach), so a snapshot in its store can only have come from the leader.
func TestFollowerBehindCompactionCatchesUpBySnapshot(t *testing.T) {
	c := testCipher(t)
	type mem struct {
		id    string
		dir   string
		st    *store.Store
		node  *Node
		trans *raft.InmemTransport
	}
	var ms []*mem
	start := func(m *mem, follower bool) {
		t.Helper()
		addr, tr := raft.NewInmemTransport(raft.ServerAddress(m.id))
		for _, o := range ms {
			if o != m && o.node != nil {
				tr.Connect(o.trans.LocalAddr(), o.trans)
				o.trans.Connect(addr, tr)
			}
		}
		cfg := fastConfig(m.id, tr)
		cfg.DataDir, cfg.Cipher, cfg.Bootstrap = m.dir, c, m.id == "m0"
		cfg.SnapshotInterval = 50 * time.Millisecond
		cfg.SnapshotThreshold, cfg.TrailingLogs = 40, 10
		if follower {
			cfg.SnapshotThreshold = 1 << 40
		}
		m.st = store.New(nil, nil)
		n, err := New(cfg, m.st)
		if err != nil {
			t.Fatal(err)
		}
		m.node, m.trans = n, tr
	}
	for i := 0; i < 3; i++ {
		m := &mem{id: fmt.Sprintf("m%d", i), dir: t.TempDir()}
		ms = append(ms, m)
		start(m, i == 2)
		if i == 0 {
			waitLeader(t, []*member{{node: m.node}})
			continue
		}
		var running []*member
		for _, o := range ms[:i] {
			running = append(running, &member{id: o.id, node: o.node, st: o.st})
		}
		addVoterThroughLeader(t, running, m.id, m.id)
	}
	t.Cleanup(func() {
		for _, m := range ms {
			if m.node != nil {
				_ = m.node.Shutdown()
			}
		}
	})
	lead, behind := ms[0], ms[2]
	all := []*member{{id: "m0", node: ms[0].node, st: ms[0].st}, {id: "m1", node: ms[1].node, st: ms[1].st}, {id: "m2", node: ms[2].node, st: ms[2].st}}
	createThroughLeader(t, all, "before")

	// The follower goes down; the leader writes and compacts well past it.
	_ = behind.node.Shutdown()
	behind.node = nil
	for _, m := range ms[:2] {
		m.trans.Disconnect(raft.ServerAddress(behind.id))
	}
	downAt := lead.node.LastIndex()
	up := []*member{{node: ms[0].node, st: ms[0].st}, {node: ms[1].node, st: ms[1].st}}
	for i := 0; i < 200; i++ {
		createThroughLeader(t, up, fmt.Sprintf("while-down-%d", i))
	}
	// Both members that stayed up compact past the follower: whichever of
	// them leads when it comes back (a leader change under load is
	// allowed) has only a snapshot to give it.
	deadline := time.Now().Add(20 * time.Second)
	for _, m := range ms[:2] {
		for {
			first, _ := m.node.logs.FirstIndex()
			if first > downAt+1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s's log still starts at %d, the follower stopped at %d: no compaction", m.id, first, downAt)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	start(behind, true)
	// The store holds the restored state a moment before raft records the
	// installed snapshot's index: wait for both.
	deadline = time.Now().Add(20 * time.Second)
	var idx uint64
	for {
		idx, _ = strconv.ParseUint(behind.node.Stats()["last_snapshot_index"], 10, 64)
		n := len(serviceNames(behind.st))
		if n == 201 && idx > downAt {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("follower has %d of 201 services, its last snapshot at %d (down at %d): it did not install the leader's", n, idx, downAt)
		}
		time.Sleep(20 * time.Millisecond)
	}
	snaps, err := behind.node.snaps.List()
	if err != nil || len(snaps) == 0 || snaps[0].Index != idx {
		t.Fatalf("follower's snapshot store: %v (%v)", snaps, err)
	}
}

// A manager left alone by the loss of the others recovers from its own
// data: ForceNewCluster makes it the only voter, with its state kept.
func TestForceNewClusterFromALoneManager(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	ms := cluster(t, 3, func(i int) string { return dirs[i] })
	var kept []string
	for i := 0; i < 20; i++ {
		kept = append(kept, fmt.Sprintf("kept-%d", i))
		createThroughLeader(t, ms, kept[i])
	}
	// m1 holds them all in its own log before every member stops (a
	// commit needs only two of the three); only m1 will come back.
	waitApplied(t, ms[1:2], kept)
	for _, m := range ms {
		_ = m.node.Shutdown()
		m.node = nil
	}
	_, tr := raft.NewInmemTransport("m1")
	cfg := fastConfig("m1", tr)
	cfg.DataDir = dirs[1]
	if err := ForceNewCluster(cfg); err != nil {
		t.Fatal(err)
	}
	_, tr2 := raft.NewInmemTransport("m1")
	cfg2 := fastConfig("m1", tr2)
	cfg2.DataDir = dirs[1]
	st := store.New(nil, nil)
	n, err := New(cfg2, st)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	waitLeader(t, []*member{{node: n}})
	if err := createService(st, "after-recovery"); err != nil {
		t.Fatalf("write after recovery: %v", err)
	}
	if got := len(serviceNames(st)); got != 21 {
		t.Fatalf("%d services after recovery, want 21", got)
	}
	members, err := n.Members()
	if err != nil || len(members) != 1 || members[0].ID != "m1" {
		t.Fatalf("members after recovery: %v %v", members, err)
	}
}
