package manager

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/minsw/minsw/manager/raftnode"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

func fastRaft() raftnode.Config {
	return raftnode.Config{HeartbeatTimeout: 300 * time.Millisecond, ElectionTimeout: 300 * time.Millisecond, LeaderLeaseTimeout: 150 * time.Millisecond, ApplyTimeout: 3 * time.Second}
}

func startManager(t *testing.T, id string, bootstrap bool) *Manager {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{NodeID: id, Listener: l, Bootstrap: bootstrap, Raft: fastRaft(), DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	return m
}

func dial(t *testing.T, m *Manager) *grpc.ClientConn {
	c, err := grpc.NewClient(m.cfg.AdvertiseAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func threeManagers(t *testing.T) []*Manager {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m1 := startManager(t, "node1", true)
	if err := m1.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := m1.InitCluster(ctx, &api.NodeDescription{Hostname: "m1"}, m1.cfg.AdvertiseAddr)
	if err != nil {
		t.Fatal(err)
	}
	ms := []*Manager{m1}
	for i := 2; i <= 3; i++ {
		m := startManager(t, fmt.Sprintf("node%d", i), false)
		mem := api.NewMembershipClient(dial(t, ms[len(ms)-1])) // join through the newest, a follower: forwarded
		resp, err := mem.JoinCluster(ctx, &api.JoinClusterRequest{Token: c.JoinTokens.Manager, Addr: m.cfg.AdvertiseAddr,
			NodeId: m.cfg.NodeID, Description: &api.NodeDescription{Hostname: fmt.Sprintf("m%d", i)}})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Role != api.NodeRole_NODE_ROLE_MANAGER {
			t.Fatalf("manager token gave role %v", resp.Role)
		}
		if _, err := mem.JoinRaft(ctx, &api.JoinRaftRequest{NodeId: resp.NodeId, Addr: m.cfg.AdvertiseAddr}); err != nil {
			t.Fatal(err)
		}
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
	deadline := time.Now().Add(5 * time.Second)
	for {
		ts, err := ctl.ListTasks(ctx, &api.ListTasksRequest{})
		if err == nil && len(ts.Tasks) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tasks not created: %v %v", ts, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
	for {
		_, err := ctl2.CreateService(ctx, &api.CreateServiceRequest{Spec: service("after")})
		if err == nil {
			break
		}
		if status.Code(err) != codes.Unavailable && !strings.Contains(err.Error(), "leader") {
			t.Fatalf("unexpected error during failover: %v", err)
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("no write accepted 10s after the leader died: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
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
	c, err := m1.InitCluster(ctx, &api.NodeDescription{Hostname: "m1"}, m1.cfg.AdvertiseAddr)
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
