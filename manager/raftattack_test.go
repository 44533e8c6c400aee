package manager

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/eventually"
	"github.com/minsw/minsw/manager/ca"
	"github.com/minsw/minsw/manager/identity"
	"github.com/minsw/minsw/manager/raftnode"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// attackerStream is a raft StreamLayer for a raw raft client: it dials the
// cluster port as a manager would (the raft preamble byte, then mutual TLS
// with the attacker's certificate) and never accepts anything.
type attackerStream struct {
	creds *ca.Credentials
	done  chan struct{}
}

func (s *attackerStream) Accept() (net.Conn, error) { <-s.done; return nil, errors.New("closed") }
func (s *attackerStream) Close() error {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	return nil
}
func (s *attackerStream) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (s *attackerStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", string(addr), timeout)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write([]byte{raftnode.RaftMagic}); err != nil {
		c.Close()
		return nil, err
	}
	// The attacker does not care who the server is.
	cfg := s.creds.ClientTLS(ca.ManagerServerName)
	cfg.VerifyConnection = nil
	tc := tls.Client(c, cfg)
	_ = tc.SetDeadline(time.Now().Add(timeout))
	if err := tc.Handshake(); err != nil {
		c.Close()
		return nil, err
	}
	_ = tc.SetDeadline(time.Time{})
	return tc, nil
}

// raftInject sends, with hashicorp/raft's NetworkTransport wire format over
// the cluster port, AppendEntries(term = current+5) carrying one entry that
// creates a node named injectedID, positioned right after target's log so
// that raft would apply it. It returns the transport's error (nil: the
// target answered) and whether the target said success.
func raftInject(t *testing.T, target *Manager, creds *ca.Credentials, injectedID string) (bool, error) {
	t.Helper()
	stats := target.raft.Stats()
	term, _ := strconv.ParseUint(stats["term"], 10, 64)
	lastIndex, _ := strconv.ParseUint(stats["last_log_index"], 10, 64)
	lastTerm, _ := strconv.ParseUint(stats["last_log_term"], 10, 64)
	data, err := proto.Marshal(&api.RaftCommand{Actions: []*api.StoreAction{{
		Kind: api.StoreActionKind_STORE_ACTION_CREATE,
		Target: &api.StoreAction_Node{Node: &api.Node{Id: injectedID, Meta: &api.Meta{}, Spec: &api.NodeSpec{DesiredRole: api.NodeRole_NODE_ROLE_MANAGER},
			Role: api.NodeRole_NODE_ROLE_MANAGER, Description: &api.NodeDescription{Hostname: "injected"},
			Status: &api.NodeStatus{Addr: "203.0.113.66"}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	stream := &attackerStream{creds: creds, done: make(chan struct{})}
	tr := raft.NewNetworkTransport(stream, 1, 3*time.Second, io.Discard)
	defer tr.Close()
	id, _ := creds.Identity()
	req := &raft.AppendEntriesRequest{
		RPCHeader:    raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(id.NodeID), Addr: []byte("127.0.0.1:1")},
		Term:         term + 5,
		PrevLogEntry: lastIndex, PrevLogTerm: lastTerm,
		Entries:           []*raft.Log{{Index: lastIndex + 1, Term: term + 5, Type: raft.LogCommand, Data: data}},
		LeaderCommitIndex: lastIndex + 1,
	}
	var resp raft.AppendEntriesResponse
	err = tr.AppendEntries(raft.ServerID(target.cfg.NodeID), raft.ServerAddress(target.cfg.AdvertiseAddr), req, &resp)
	return resp.Success, err
}

// storeDigest is what an attacker would change in the store (who the
// nodes are, their roles and addresses, the managers), to compare before
// and after; the leader's own loops may still touch other fields.
func storeDigest(m *Manager) string {
	var ids []string
	m.st.View(func(tx store.ReadTx) {
		for _, n := range tx.Nodes() {
			ids = append(ids, n.GetId()+"/"+n.GetRole().String()+"/"+n.GetSpec().GetDesiredRole().String()+"/"+n.GetStatus().GetAddr()+"/"+n.GetManagerStatus().GetAddr())
		}
		if c := tx.Cluster(); c != nil {
			ids = append(ids, "removed:"+joinStrings(c.GetRemovedNodeIds()))
		}
	})
	sort.Strings(ids)
	return strconv.Itoa(len(ids)) + ":" + joinStrings(ids)
}

func joinStrings(ss []string) string {
	out := ""
	for _, s := range ss {
		out += s + ","
	}
	return out
}

// TestRaftAttacks: a raw raft client on the cluster port, with the
// certificate of a manager that was demoted, then removed; with a manager
// certificate the root signed for an ID that is no raft member; and with a
// worker's certificate. Each AppendEntries is refused at the TLS edge, the
// leader keeps its term and leadership, and its store is unchanged.
func TestRaftAttacks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m1, c := oneManager(t)
	m2, resp := joinManager(t, ctx, m1, c.JoinTokens.Manager)
	oldMgr := m2.cfg.Credentials
	waitWithin(t, 10*time.Second, func() bool {
		ms, _ := m1.raft.Members()
		return len(ms) == 2
	})

	// Demoted: out of raft, role worker in the store; its daemon stops.
	demote(t, ctx, m1, resp.NodeId)
	waitWithin(t, 10*time.Second, func() bool {
		ms, _ := m1.raft.Members()
		var n *api.Node
		m1.st.View(func(tx store.ReadTx) { n = tx.Node(resp.NodeId) })
		return len(ms) == 1 && n.GetRole() == api.NodeRole_NODE_ROLE_WORKER
	})
	m2.Stop()

	check := func(t *testing.T, at *attack, creds *ca.Credentials) {
		t.Helper()
		before := storeDigest(m1)
		termBefore := m1.raft.Stats()["term"]
		injected := identity.NewID()
		for range 3 {
			ok, err := raftInject(t, m1, creds, injected)
			if ok {
				err = errors.New("AppendEntries accepted")
			}
			at.try(err, func(err error) bool { return err != nil && !ok })
		}
		at.done()
		eventually.Stays(t, 300*time.Millisecond, "the store unchanged by the injected entries", func() bool {
			return storeDigest(m1) == before
		})
		var n *api.Node
		m1.st.View(func(tx store.ReadTx) { n = tx.Node(injected) })
		if n != nil {
			t.Fatalf("injected node %s is in the store", injected)
		}
		if !m1.IsLeader() || m1.raft.Stats()["term"] != termBefore {
			t.Fatalf("leader disturbed: leader=%v term %s -> %s", m1.IsLeader(), termBefore, m1.raft.Stats()["term"])
		}
	}

	t.Run("demoted manager's certificate on raft", func(t *testing.T) {
		check(t, newAttack(t, "raw raft AppendEntries with a demoted manager's certificate"), oldMgr)
	})
	if _, err := api.NewControlClient(dial(t, m1)).RemoveNode(ctx, &api.RemoveNodeRequest{Ref: resp.NodeId, Force: true}); err != nil {
		t.Fatal(err)
	}
	t.Run("removed manager's certificate on raft", func(t *testing.T) {
		check(t, newAttack(t, "raw raft AppendEntries with a removed manager's certificate"), oldMgr)
	})
	t.Run("removed manager's certificate on gRPC", func(t *testing.T) {
		at := newAttack(t, "removed manager's certificate on the API (new connection)")
		_, err := api.NewControlClient(dialAs(t, m1.cfg.AdvertiseAddr, oldMgr)).ListNodes(ctx, &api.ListNodesRequest{})
		at.try(err, func(err error) bool { return err != nil })
		_, err = api.NewDispatcherClient(dialAs(t, m1.cfg.AdvertiseAddr, oldMgr)).Heartbeat(ctx, &api.HeartbeatRequest{NodeId: resp.NodeId})
		at.try(err, func(err error) bool { return err != nil })
		at.done()
	})
	t.Run("root-signed manager certificate for a non-member ID", func(t *testing.T) {
		root, _ := testRoots.Load(m1)
		forged := issueAt(t, root.(*ca.RootCA), identity.NewID(), ca.ManagerRole, c.Id, time.Now())
		check(t, newAttack(t, "raw raft AppendEntries with a root-signed manager certificate of a non-member"), forged)
	})
	t.Run("worker certificate on raft", func(t *testing.T) {
		worker, _ := joinNode(t, ctx, m1, c.JoinTokens.Worker)
		check(t, newAttack(t, "raw raft AppendEntries with a worker certificate"), worker)
	})
	// The real member still replicates: a write commits.
	if _, err := api.NewControlClient(dial(t, m1)).CreateService(ctx, &api.CreateServiceRequest{Spec: service("after-attacks")}); err != nil {
		t.Fatalf("write after the attacks: %v", err)
	}
}

// waitWithin polls cond until it holds or d passes.
func waitWithin(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	eventually.Within(t, d, "the condition", cond)
}

// TestStaleManagerFollowsALeaderItsLogDoesNotKnow: a manager is down while
// another joins and becomes leader. Back up, its raft configuration does
// not list the new leader; the raft check admits it only after a member it
// knows confirms, through the leader's store, that it is a current manager
// (askPeers). The stale manager then catches up.
func TestStaleManagerFollowsALeaderItsLogDoesNotKnow(t *testing.T) {
	ms := threeManagers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var leader, victim *Manager
	for _, m := range ms {
		if m.IsLeader() {
			leader = m
		} else if victim == nil {
			victim = m
		}
	}
	var c *api.Cluster
	leader.st.View(func(tx store.ReadTx) { c = tx.Cluster() })
	vcfg := victim.cfg
	victim.Stop()
	m4, _ := joinManager(t, ctx, leader, c.GetJoinTokens().GetManager())
	// Hand leadership around until the newcomer holds it.
	eventually.True(t, "the new manager leading", func() bool {
		if m4.IsLeader() {
			return true
		}
		for _, m := range append([]*Manager{m4}, ms...) {
			if m != victim && m.IsLeader() {
				_ = m.raft.TransferLeadershipTo(m4.cfg.NodeID, m4.cfg.AdvertiseAddr)
			}
		}
		return false
	})
	// The stale manager comes back on its address with its data.
	var l net.Listener
	eventually.Succeeds(t, eventually.DefaultWithin, "the stale manager's address free", func() (err error) {
		l, err = net.Listen("tcp", vcfg.AdvertiseAddr)
		return err
	})
	back, err := New(Config{NodeID: vcfg.NodeID, Listener: l, Raft: fastRaft(), DataDir: vcfg.DataDir, Credentials: vcfg.Credentials})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(back.Stop)
	if _, err := api.NewControlClient(dial(t, m4)).CreateService(ctx, &api.CreateServiceRequest{Spec: service("after-return")}); err != nil {
		t.Fatal(err)
	}
	waitWithin(t, 30*time.Second, func() bool {
		var n *api.Node
		var svcs int
		back.st.View(func(tx store.ReadTx) {
			n = tx.Node(m4.cfg.NodeID)
			for _, s := range tx.Services() {
				if s.GetSpec().GetName() == "after-return" {
					svcs++
				}
			}
		})
		return n != nil && svcs == 1
	})
}
