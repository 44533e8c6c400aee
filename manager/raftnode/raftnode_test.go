package raftnode

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

type member struct {
	id    string
	st    *store.Store
	node  *Node
	trans *raft.InmemTransport
}

func fastConfig(id string, tr raft.Transport) Config {
	c := DefaultConfig()
	c.ID, c.Transport = id, tr
	c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = 300*time.Millisecond, 300*time.Millisecond, 150*time.Millisecond
	c.ApplyTimeout = 2 * time.Second
	return c
}

// cluster starts n in-memory managers, the first bootstrapped, the others
// added as voters, as `swarm join --token <manager token>` does.
func cluster(t *testing.T, n int, dataDir func(i int) string) []*member {
	t.Helper()
	return clusterWith(t, n, dataDir, fastConfig)
}

// steadyConfig leads for a second after losing its quorum (1 s lease):
// for the tests that cut a leader off and then write through it, which
// must still find it leading however late a loaded machine runs the
// write (with fastConfig's 150 ms lease it may have stepped down, and the
// write is refused as on a follower).
func steadyConfig(id string, tr raft.Transport) Config {
	c := fastConfig(id, tr)
	c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = time.Second, time.Second, time.Second
	return c
}

// clusterWith is cluster with each member's config made by config.
func clusterWith(t *testing.T, n int, dataDir func(i int) string, config func(id string, tr raft.Transport) Config) []*member {
	t.Helper()
	var ms []*member
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("m%d", i)
		addr, tr := raft.NewInmemTransport(raft.ServerAddress(id))
		for _, o := range ms {
			tr.Connect(o.trans.LocalAddr(), o.trans)
			o.trans.Connect(addr, tr)
		}
		cfg := config(id, tr)
		cfg.Bootstrap = i == 0
		if dataDir != nil {
			cfg.DataDir = dataDir(i)
		}
		st := store.New(nil, nil)
		node, err := New(cfg, st)
		if err != nil {
			t.Fatal(err)
		}
		m := &member{id: id, st: st, node: node, trans: tr}
		ms = append(ms, m)
		if i == 0 {
			waitLeader(t, ms)
			continue
		}
		addVoterThroughLeader(t, ms, id, string(addr))
	}
	t.Cleanup(func() {
		for _, m := range ms {
			if m.node != nil {
				_ = m.node.Shutdown()
			}
		}
	})
	return ms
}

func leader(ms []*member) *member {
	for _, m := range ms {
		if m.node != nil && m.node.IsLeader() {
			return m
		}
	}
	return nil
}

func waitLeader(t *testing.T, ms []*member) *member {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if l := leader(ms); l != nil {
			return l
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no leader elected within 10s")
	return nil
}

func createService(st *store.Store, name string) error {
	return st.Update(context.Background(), func(tx *store.Tx) error {
		return tx.Create(&api.Service{Id: "id-" + name, Meta: &api.Meta{}, Spec: &api.ServiceSpec{Name: name}})
	})
}

// createThroughLeader creates the service through whichever of ms leads,
// and again after a lost leadership or an unknown outcome until it is
// there: for tests about something else (compaction, snapshots), in which a
// leader change under load is allowed. A write whose outcome was unknown and
// that did apply is found by its name, never written twice.
func createThroughLeader(t *testing.T, ms []*member, name string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if l := leader(ms); l != nil {
			if serviceNames(l.st)[name] {
				return
			}
			if err = createService(l.st, name); err == nil {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("service %s not created within 60 s: %v", name, err)
}

// addVoterThroughLeader adds id as a voter through whichever of ms leads,
// again after a lost leadership (adding a voter that is already one with
// that address changes nothing): the first writes of a cluster meet the
// same load as any other.
func addVoterThroughLeader(t *testing.T, ms []*member, id, addr string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if l := leader(ms); l != nil {
			if err = l.node.AddVoter(id, addr); err == nil {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s not added as a voter within 60 s: %v", id, err)
}

// waitApplied waits until every running member of ms has applied the
// services named.
func waitApplied(t *testing.T, ms []*member, names []string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, m := range ms {
		if m.node == nil {
			continue
		}
		for {
			got, missing := serviceNames(m.st), ""
			for _, name := range names {
				if !got[name] {
					missing = name
					break
				}
			}
			if missing == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s lacks the acknowledged write %s (%d services)", m.id, missing, len(got))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func serviceNames(st *store.Store) map[string]bool {
	out := map[string]bool{}
	st.View(func(tx store.ReadTx) {
		for _, s := range tx.Services() {
			out[s.Spec.Name] = true
		}
	})
	return out
}

func TestLeaderKilledNoAcknowledgedWriteLost(t *testing.T) {
	ms := cluster(t, 3, nil)
	// A write is acknowledged once the leader has applied it, so committed;
	// a leader change under load while writing is allowed (the test is
	// about the leader's death after them).
	acked := []string{}
	for i := 0; i < 50; i++ {
		name := fmt.Sprintf("svc%d", i)
		createThroughLeader(t, ms, name)
		acked = append(acked, name)
	}
	// Kill the leader: cut it off and stop it.
	l := waitLeader(t, ms)
	for _, m := range ms {
		if m != l {
			m.trans.Disconnect(l.trans.LocalAddr())
		}
	}
	l.trans.DisconnectAll()
	_ = l.node.Shutdown()
	l.node = nil
	start := time.Now()
	rest := []*member{}
	for _, m := range ms {
		if m != l {
			rest = append(rest, m)
		}
	}
	createThroughLeader(t, rest, "after-failover")
	t.Logf("leader killed -> writes accepted again after %v", time.Since(start))
	// Both survivors come to hold every acknowledged write: one lost in
	// the failover never shows up.
	waitApplied(t, rest, append(acked, "after-failover"))
	for _, m := range rest {
		if n := len(serviceNames(m.st)); n != len(acked)+1 {
			t.Fatalf("%s has %d services, want %d", m.id, n, len(acked)+1)
		}
	}
}

func TestFollowerCannotWrite(t *testing.T) {
	ms := cluster(t, 3, nil)
	waitLeader(t, ms)
	for _, m := range ms {
		if !m.node.IsLeader() {
			if err := createService(m.st, "x"); !errdefs.Is(err, errdefs.KindUnavailable) {
				t.Fatalf("write on follower: %v", err)
			}
			return
		}
	}
}

// A leader whose followers are gone appends the write, then steps down
// without committing it: the entry may still commit once a follower is
// back (it holds the longest log), so the write's outcome is unknown and
// must be reported so, quickly, never as a failure.
func TestQuorumLostWriteOutcomeUnknown(t *testing.T) {
	ms := clusterWith(t, 3, nil, steadyConfig)
	l := waitLeader(t, ms)
	for _, m := range ms {
		if m != l {
			_ = m.node.Shutdown()
			m.trans.DisconnectAll()
			l.trans.Disconnect(m.trans.LocalAddr())
		}
	}
	start := time.Now()
	err := createService(l.st, "lonely")
	if !errdefs.Is(err, errdefs.KindOutcomeUnknown) {
		t.Fatalf("write without quorum: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("write without quorum took %v to answer, want < 5s", d)
	}
	if want := "the request may or may not have been applied: check with service ls"; err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	if serviceNames(l.st)["lonely"] {
		t.Fatal("an uncommitted write reached the store")
	}
	// Once it has stepped down, a write is refused before it is appended:
	// that failure is definite.
	for l.node.IsLeader() {
		time.Sleep(10 * time.Millisecond)
	}
	if err := createService(l.st, "later"); !errdefs.Is(err, errdefs.KindUnavailable) {
		t.Fatalf("write on a follower: %v", err)
	}
}

// A caller that gives up before its write commits is told the outcome is
// unknown (DeadlineExceeded at the edge), not that it failed.
func TestCallerDeadlineOutcomeUnknown(t *testing.T) {
	ms := clusterWith(t, 3, nil, steadyConfig)
	l := waitLeader(t, ms)
	for _, m := range ms {
		if m != l {
			m.trans.DisconnectAll()
			l.trans.Disconnect(m.trans.LocalAddr())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := l.st.Update(ctx, func(tx *store.Tx) error {
		return tx.Create(&api.Service{Id: "id-x", Meta: &api.Meta{}, Spec: &api.ServiceSpec{Name: "x"}})
	})
	if !errdefs.Is(err, errdefs.KindOutcomeUnknown) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write past the caller's deadline: %v", err)
	}
	if c := status.Code(errdefs.ToGRPC(err)); c != codes.DeadlineExceeded {
		t.Fatalf("at the edge: %v", c)
	}
}

func TestRestartFromDisk(t *testing.T) {
	dir := t.TempDir()
	_, tr := raft.NewInmemTransport("solo")
	cfg := fastConfig("solo", tr)
	cfg.Bootstrap, cfg.DataDir = true, dir
	st := store.New(nil, nil)
	n, err := New(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	waitLeader(t, []*member{{node: n}})
	for i := 0; i < 20; i++ {
		if err := createService(st, fmt.Sprintf("s%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	_ = n.Shutdown()

	_, tr2 := raft.NewInmemTransport("solo")
	cfg2 := fastConfig("solo", tr2)
	cfg2.Bootstrap, cfg2.DataDir = true, dir
	st2 := store.New(nil, nil)
	n2, err := New(cfg2, st2)
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Shutdown()
	waitLeader(t, []*member{{node: n2}})
	if err := n2.Barrier(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if got := len(serviceNames(st2)); got != 20 {
		t.Fatalf("after restart the store holds %d services, want 20", got)
	}
}

// Ready: a follower is told there is no leader here; the leader is ready
// once it has applied its term's barrier, and says so at once afterwards.
func TestReadyOnlyOnTheLeaderAfterItsBarrier(t *testing.T) {
	ms := cluster(t, 3, nil)
	// A leader change under load (150 ms lease) while looking makes the
	// answers of another term: looked at again, in a term that held.
	check := func(l *member) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, m := range ms {
			err := m.node.Ready(ctx)
			if m == l && err != nil {
				return fmt.Errorf("leader not ready: %w", err)
			}
			if m != l && !errdefs.Is(err, errdefs.KindUnavailable) {
				return fmt.Errorf("follower ready: %v", err)
			}
		}
		if got := l.node.readyTerm.Load(); got != l.node.raft.CurrentTerm() {
			return fmt.Errorf("ready term %d, current term %d", got, l.node.raft.CurrentTerm())
		}
		return nil
	}
	for attempt := 1; ; attempt++ {
		l := waitLeader(t, ms)
		term := l.node.raft.CurrentTerm()
		err := check(l)
		if err == nil {
			break
		}
		if (l.node.IsLeader() && l.node.raft.CurrentTerm() == term) || attempt == 5 {
			t.Fatal(err)
		}
		t.Logf("leadership changed while looking (%v): again", err)
	}
	if err := CatchingUp(42); !errdefs.Is(err, errdefs.KindUnavailable) || err.Error() != "the manager is catching up (42 entries behind)" {
		t.Fatalf("catching up: %v", err)
	}
}
