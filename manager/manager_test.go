package manager

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/minsw/minsw/client/join"
	"github.com/minsw/minsw/internal/eventually"
	"github.com/minsw/minsw/manager/ca"
	"github.com/minsw/minsw/manager/identity"
	"github.com/minsw/minsw/manager/raftnode"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// fastRaft is the daemon's raft timing stretched three times (1.5 s
// heartbeat and election timeouts, a 1.2 s lease), with a shorter apply
// timeout. A test runs three to five managers in one process on a loaded
// machine, which no daemon does: with the daemon's own 400 ms lease (150 ms
// before that) leadership changed mid-test at load 12-16 and turned the
// tests' writes and reads into unknown outcomes, refusals and timeouts
// (TestStaleManagerFollowsALeaderItsLogDoesNotKnow, TestRootRotationWhileServing,
// TestFiveManagersSurviveTwoLosses, TestWholeClusterRestartServesNoStaleRead,
// TestServiceLogsFromTheNodesRunningTheTasks, in one -count=5 run).
func fastRaft() raftnode.Config {
	d := raftnode.DefaultConfig()
	return raftnode.Config{HeartbeatTimeout: 3 * d.HeartbeatTimeout, ElectionTimeout: 3 * d.ElectionTimeout, LeaderLeaseTimeout: 3 * d.LeaderLeaseTimeout, ApplyTimeout: 3 * time.Second}
}

func startManager(t testing.TB, id string, bootstrap bool) *Manager {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// A bootstrapping manager makes the swarm's root CA and its own
	// certificate (as swarm init does); a joining one starts with none and
	// gets it by joining (joinManager).
	creds := ca.NewCredentials(nil)
	var root *ca.RootCA
	if bootstrap {
		root, creds, err = ca.Bootstrap(identity.NewID(), id, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	m, err := New(Config{NodeID: id, Listener: l, Bootstrap: bootstrap, Raft: fastRaft(), DataDir: t.TempDir(), Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	if root != nil {
		testRoots.Store(m, root)
	}
	t.Cleanup(m.Stop)
	return m
}

// testRoots keeps the root CA each bootstrapped test manager made, for
// initCluster.
var testRoots sync.Map

// initCluster is swarm init's InitCluster on a bootstrapped test manager.
func initCluster(ctx context.Context, m *Manager) (*api.Cluster, error) {
	root, _ := testRoots.Load(m)
	return m.InitCluster(ctx, &api.NodeDescription{Hostname: m.cfg.NodeID}, m.cfg.AdvertiseAddr, root.(*ca.RootCA), api.NodeAvailability_NODE_AVAILABILITY_ACTIVE)
}

// joinManager starts a manager that joins through via with a manager
// token, as swarm join does: root checked against the token, CSR, the
// certificate (and the node ID the CA chose) installed, the manager started
// under that ID, then JoinRaft with its own certificate.
func joinManager(t testing.TB, ctx context.Context, via *Manager, token string) (*Manager, *api.JoinClusterResponse) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	creds := ca.NewCredentials(nil)
	root, err := join.FetchRootCA(ctx, via.cfg.AdvertiseAddr, token)
	if err != nil {
		t.Fatal(err)
	}
	if err := creds.SetRoots(root); err != nil {
		t.Fatal(err)
	}
	resp, err := join.JoinCluster(ctx, via.cfg.AdvertiseAddr, creds, &api.JoinClusterRequest{Token: token, Addr: l.Addr().String(),
		Description: &api.NodeDescription{Hostname: "mgr-" + l.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Role != api.NodeRole_NODE_ROLE_MANAGER {
		t.Fatalf("manager token gave role %v", resp.Role)
	}
	m, err := New(Config{NodeID: resp.NodeId, Listener: l, Raft: fastRaft(), DataDir: t.TempDir(), Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	if _, err := api.NewMembershipClient(dialAs(t, via.cfg.AdvertiseAddr, m.cfg.Credentials)).JoinRaft(ctx, &api.JoinRaftRequest{NodeId: resp.NodeId, Addr: m.cfg.AdvertiseAddr}); err != nil {
		t.Fatal(err)
	}
	// Caught up: the next node may join through this one.
	for {
		var c *api.Cluster
		m.st.View(func(tx store.ReadTx) { c = tx.Cluster() })
		if c != nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("joined manager never received the cluster")
		case <-time.After(20 * time.Millisecond):
		}
	}
	return m, resp
}

// dial connects to m as m itself (its manager certificate).
func dial(t testing.TB, m *Manager) *grpc.ClientConn {
	return dialAs(t, m.cfg.AdvertiseAddr, m.cfg.Credentials)
}

// dialAs connects to addr with creds (mutual TLS; no certificate if creds
// has none).
func dialAs(t testing.TB, addr string, creds *ca.Credentials) *grpc.ClientConn {
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(creds.ClientTLS(ca.ManagerServerName))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func threeManagers(t testing.TB) []*Manager { return managers(t, 3) }

// managers starts n managers: the first bootstraps, the others join with
// the manager token.
func managers(t testing.TB, n int) []*Manager {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m1 := startManager(t, "node1", true)
	if err := m1.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := initCluster(ctx, m1)
	if err != nil {
		t.Fatal(err)
	}
	ms := []*Manager{m1}
	for i := 2; i <= n; i++ {
		m, _ := joinManager(t, ctx, ms[len(ms)-1], c.JoinTokens.Manager) // join through the newest, a follower: forwarded
		ms = append(ms, m)
	}
	return ms
}

func service(name string) *api.ServiceSpec {
	return &api.ServiceSpec{Name: name, Mode: &api.ServiceSpec_Replicated{Replicated: &api.ReplicatedService{Replicas: 2}},
		Task: &api.TaskSpec{Container: &api.ContainerSpec{Image: "containous/whoami"}}}
}

func TestThreeManagersForwardAndFailOver(t *testing.T) {
	ms := threeManagers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A write through a follower is forwarded to the leader.
	var follower *Manager
	for _, m := range ms {
		if !m.IsLeader() {
			follower = m
			break
		}
	}
	ctl := api.NewControlClient(dial(t, follower))
	if _, err := ctl.CreateService(ctx, &api.CreateServiceRequest{Spec: service("web")}); err != nil {
		t.Fatalf("create through follower: %v", err)
	}
	nodes, err := ctl.ListNodes(ctx, &api.ListNodesRequest{})
	if err != nil || len(nodes.Nodes) != 3 {
		t.Fatalf("nodes: %v %v", nodes, err)
	}
	leaders := 0
	for _, n := range nodes.Nodes {
		if n.Role != api.NodeRole_NODE_ROLE_MANAGER {
			t.Fatalf("node %s has role %v", n.Id, n.Role)
		}
		if n.ManagerStatus.Leader {
			leaders++
		}
	}
	if leaders != 1 {
		t.Fatalf("%d leaders in node ls", leaders)
	}
	// Orchestrator made the tasks on the leader; followers see them.
	eventually.True(t, "the orchestrator's two tasks seen on a follower", func() bool {
		ts, err := ctl.ListTasks(ctx, &api.ListTasksRequest{})
		return err == nil && len(ts.Tasks) == 2
	})
	// Kill the leader.
	var leader *Manager
	var rest []*Manager
	for _, m := range ms {
		if m.IsLeader() {
			leader = m
		} else {
			rest = append(rest, m)
		}
	}
	leader.Stop()
	start := time.Now()
	ctl2 := api.NewControlClient(dial(t, rest[0]))
	eventually.Succeeds(t, eventually.DefaultWithin, "a write accepted after the leader died", func() error {
		_, err := ctl2.CreateService(ctx, &api.CreateServiceRequest{Spec: service("after")})
		if err != nil && status.Code(err) != codes.Unavailable && !strings.Contains(err.Error(), "leader") {
			t.Fatalf("unexpected error during failover: %v", err)
		}
		return err
	})
	t.Logf("leader killed -> writes accepted again after %v", time.Since(start))
	svcs, err := ctl2.ListServices(ctx, &api.ListServicesRequest{})
	if err != nil || len(svcs.Services) != 2 {
		t.Fatalf("services after failover: %v %v", svcs, err)
	}
}

func TestWrongTokensAreRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m1 := startManager(t, "node1", true)
	if err := m1.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := initCluster(ctx, m1)
	if err != nil {
		t.Fatal(err)
	}
	mem := api.NewMembershipClient(dial(t, m1))
	good := c.JoinTokens.Worker
	other := "SWMTKN-1-" + strings.Repeat("0", 50) + good[len(good)-26:]
	wrongSecret := good[:len(good)-25] + strings.Repeat("z", 25)
	for name, tok := range map[string]string{"garbage": "hello", "another swarm's CA": other, "wrong secret": wrongSecret} {
		_, err := mem.JoinCluster(ctx, &api.JoinClusterRequest{Token: tok, Addr: "127.0.0.1:1"})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "invalid join token") {
			t.Errorf("%s: %v", name, err)
		}
	}
	nodes, _ := api.NewControlClient(dial(t, m1)).ListNodes(ctx, &api.ListNodesRequest{})
	if len(nodes.Nodes) != 1 {
		t.Fatalf("refused joins left %d nodes", len(nodes.Nodes))
	}
}

func threeManagersB(b *testing.B) []*Manager          { return threeManagers(b) }
func dialB(b *testing.B, m *Manager) *grpc.ClientConn { return dial(b, m) }

// TestFiveManagersSurviveTwoLosses checks raft's arithmetic as a user meets
// it: five managers keep accepting writes with two gone (the leader among
// them), and refuse them quickly, saying why, once a third is gone.
func TestFiveManagersSurviveTwoLosses(t *testing.T) {
	ms := managers(t, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var leader *Manager
	var rest []*Manager
	for _, m := range ms {
		if m.IsLeader() {
			leader = m
		} else {
			rest = append(rest, m)
		}
	}
	leader.Stop()
	rest[0].Stop()
	live := rest[1:]
	ctl := api.NewControlClient(dial(t, live[0]))
	eventually.Succeeds(t, eventually.DefaultWithin, "three of five managers accepting a write", func() error {
		_, err := ctl.CreateService(ctx, &api.CreateServiceRequest{Spec: service("with-three-of-five")})
		return err
	})
	live[1].Stop()
	// Two of five left: no quorum. Wait until the survivors notice, then a
	// write must fail within 5 s with the no-leader message.
	eventually.True(t, "the two survivors knowing no leader", func() bool {
		return live[0].LeaderID() == "" && live[2].LeaderID() == ""
	})
	start := time.Now()
	_, err := ctl.CreateService(ctx, &api.CreateServiceRequest{Spec: service("with-two-of-five")})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "does not have a leader") {
		t.Fatalf("write without quorum: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("write without quorum took %v to fail", d)
	}
}

// TestReachabilityRecoversWithoutTheResumedEvent: raft reports a peer's
// recovery once, on a channel that may drop it; the peer must still come
// back as reachable once its heartbeat failures stop.
func TestReachabilityRecoversWithoutTheResumedEvent(t *testing.T) {
	now := time.Unix(1000, 0)
	p := newPeerHealth(2 * time.Second)
	p.now = func() time.Time { return now }
	p.observe(raft.Observation{Data: raft.FailedHeartbeatObservation{PeerID: "m2"}})
	if p.reachable("m2") {
		t.Fatal("reachable right after a failed heartbeat")
	}
	now = now.Add(time.Second)
	p.observe(raft.Observation{Data: raft.FailedHeartbeatObservation{PeerID: "m2"}})
	now = now.Add(1500 * time.Millisecond)
	if p.reachable("m2") {
		t.Fatal("reachable while failures still come")
	}
	now = now.Add(time.Second) // no failure for 2.5 s, and no resumed event
	if !p.reachable("m2") {
		t.Fatal("still unreachable after failures stopped")
	}
	p.observe(raft.Observation{Data: raft.FailedHeartbeatObservation{PeerID: "m3"}})
	p.observe(raft.Observation{Data: raft.ResumedHeartbeatObservation{PeerID: "m3"}})
	if !p.reachable("m3") {
		t.Fatal("the resumed event does not restore reachability")
	}
}
