package netagent_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	ev "github.com/minsw/minsw/internal/eventually"
	"github.com/minsw/minsw/netdriver/dns"
	"github.com/minsw/minsw/netdriver/netfake"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/agent"
	"github.com/minsw/minsw/worker/gossip"
	"github.com/minsw/minsw/worker/netagent"
)

var _ netagent.Dataplane = (*netfake.Driver)(nil)

// sandboxes are container namespaces as names only.
type sandboxes struct {
	mu   sync.Mutex
	have map[string]bool
}

func (s *sandboxes) Ensure(dir, name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := filepath.Join(dir, name)
	s.have[p] = true
	return p, nil
}

func (s *sandboxes) Delete(path string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.have, path)
	return nil
}

func (s *sandboxes) List(dir string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for p := range s.have {
		out = append(out, filepath.Base(p))
	}
	return out, nil
}

func (s *sandboxes) EgressAddr(string, netip.Prefix) (netip.Prefix, bool) {
	return netip.Prefix{}, false
}

func (s *sandboxes) count() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.have) }

// resolver is the embedded DNS without sockets: which containers it serves.
type resolver struct {
	mu       sync.Mutex
	attached map[string]dns.Scope
}

func (r *resolver) Attach(_ context.Context, _, cid string, scope dns.Scope) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attached[cid] = scope
	return nil
}

func (r *resolver) Detach(cid string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.attached, cid)
	return nil
}

func (r *resolver) Close() error { return nil }

func (r *resolver) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.attached) }

// fakeNode is a netagent over a fake driver, fake namespaces and DNS: its
// gossip is real, on loopback; nothing needs root.
type fakeNode struct {
	name  string
	view  *view
	drv   *netfake.Driver
	sbx   *sandboxes
	dns   *resolver
	agent *netagent.Agent
}

func startFakeNode(t *testing.T, name, vtep, lbAddr string, join *fakeNode) *fakeNode {
	t.Helper()
	return startFakeNodeWith(t, name, vtep, lbAddr, join, nil)
}

// startFakeNodeWith is startFakeNode with the agent's dataplane wrapped
// by wrap (nil: the fake driver itself).
func startFakeNodeWith(t *testing.T, name, vtep, lbAddr string, join *fakeNode, wrap func(*netfake.Driver) netagent.Dataplane) *fakeNode {
	t.Helper()
	root := t.TempDir()
	n := &fakeNode{name: name, view: newView(name, lbAddr), drv: netfake.New(filepath.Join(root, "netns")),
		sbx: &sandboxes{have: map[string]bool{}}, dns: &resolver{attached: map[string]dns.Scope{}}}
	cfg := netagent.DefaultConfig()
	cfg.NodeID = name
	cfg.ExecRoot = root
	cfg.VTEP = netip.MustParseAddr(vtep)
	cfg.Gossip = gossip.DefaultConfig(name)
	cfg.Gossip.BindAddr = "127.0.0.1"
	cfg.Gossip.BindPort = -1
	cfg.LBAddrWait = 5 * time.Second
	cfg.Logger = testLogger().With("node", name)
	cfg.Dataplane, cfg.Sandboxes, cfg.Resolver = n.drv, n.sbx, n.dns
	if wrap != nil {
		cfg.Dataplane = wrap(n.drv)
	}
	if join != nil {
		cfg.Peers = func() []string {
			if db := join.agent.Gossip(); db != nil {
				return []string{db.LocalAddr()}
			}
			return nil
		}
	}
	a, err := netagent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.agent = a
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := a.Run(ctx, n.view); err != nil {
			t.Errorf("%s: run: %v", name, err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if err := a.Teardown(context.Background()); err != nil {
			t.Errorf("%s: teardown: %v", name, err)
		}
	})
	return n
}

// run prepares a task on the node and reports it running.
func (n *fakeNode) run(t *testing.T, tk *api.Task) {
	t.Helper()
	n.view.put(tk, api.TaskState_TASK_STATE_PREPARING)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := n.agent.Prepare(ctx, tk, []*api.Network{mynet}); err != nil {
		t.Fatalf("%s: prepare %s: %v", n.name, tk.GetId(), err)
	}
	n.view.put(tk, api.TaskState_TASK_STATE_RUNNING)
}

// backends reads the node's lb for the VIP: serving and draining backends.
func (n *fakeNode) backends(vip string) (serving, draining []string) {
	for _, s := range n.drv.Services(mynetID) {
		if s.VIP == netip.MustParseAddr(vip) {
			for _, b := range s.Backends {
				serving = append(serving, b.String())
			}
			for _, b := range s.Draining {
				draining = append(draining, b.String())
			}
		}
	}
	slices.Sort(serving)
	slices.Sort(draining)
	return serving, draining
}

func backendsAre(n *fakeNode, vip string, want ...string) func() bool {
	return func() bool {
		got, _ := n.backends(vip)
		return slices.Equal(got, want)
	}
}

// The seed's web service with one task on each of two nodes, without root:
// each node's lb balances the VIP over both tasks (its own and the one
// gossip tells it of), each node has the other's task as an overlay peer,
// a task told to stop drains before it goes, and a released task leaves
// both lbs, its namespace and its DNS.
func TestTwoNodesProgramTheirLBsFromGossip(t *testing.T) {
	a := startFakeNode(t, "swarm-worker1", "192.168.56.11", "10.0.1.37/24", nil)
	b := startFakeNode(t, "swarm-worker2", "192.168.56.12", "10.0.1.38/24", a)
	web1 := task("web1", "swarm-worker1", "web", 1, "10.0.1.3", "10.0.1.2", 0x100)
	web2 := task("web2", "swarm-worker2", "web", 2, "10.0.1.4", "10.0.1.2", 0x100)
	a.run(t, web1)
	b.run(t, web2)

	for _, n := range []*fakeNode{a, b} {
		ev.True(t, n.name+"'s lb balancing web's VIP over both tasks", backendsAre(n, "10.0.1.2", "10.0.1.3", "10.0.1.4"))
		if svcs := n.drv.Services(mynetID); len(svcs) != 1 || svcs[0].Mark != 0x100 {
			t.Fatalf("%s's lb: %v", n.name, svcs)
		}
	}
	peerOn := func(n *fakeNode, ip, vtep string) func() bool {
		return func() bool {
			for _, p := range n.drv.Peers(mynetID) {
				if p.Addr == netip.MustParseAddr(ip) && p.VTEP == netip.MustParseAddr(vtep) {
					return true
				}
			}
			return false
		}
	}
	ev.True(t, "web2 a peer of swarm-worker1 behind swarm-worker2's VTEP", peerOn(a, "10.0.1.4", "192.168.56.12"))
	ev.True(t, "web1 a peer of swarm-worker2 behind swarm-worker1's VTEP", peerOn(b, "10.0.1.3", "192.168.56.11"))
	if a.sbx.count() != 1 || a.dns.count() != 1 {
		t.Fatalf("swarm-worker1: %d namespaces, %d DNS attachments; want one each", a.sbx.count(), a.dns.count())
	}
	leg, ok := a.drv.Egress(agent.ContainerID(web1.GetId()))
	if !ok {
		t.Fatal("web1 has no leg on the gateway bridge")
	}
	// network inspect minsw_gwbridge lists that leg (no ingress network in
	// this view, so no ingress sandbox).
	if eps := a.agent.EgressEndpoints(); len(eps) != 1 || eps[0].ContainerID != agent.ContainerID(web1.GetId()) || eps[0].Addr != leg {
		t.Errorf("swarm-worker1's gateway bridge endpoints %v, want web1's %v", eps, leg)
	}

	// web2 is told to stop: both lbs stop giving it new connections.
	stopping := proto.Clone(web2).(*api.Task)
	stopping.DesiredState = api.TaskState_TASK_STATE_SHUTDOWN
	b.view.put(stopping, api.TaskState_TASK_STATE_RUNNING)
	for _, n := range []*fakeNode{a, b} {
		ev.True(t, n.name+"'s lb draining web2", func() bool {
			serving, draining := n.backends("10.0.1.2")
			return slices.Equal(serving, []string{"10.0.1.3"}) && slices.Equal(draining, []string{"10.0.1.4"})
		})
	}

	// Its container gone, web2 is released: no node balances to it.
	b.view.put(stopping, api.TaskState_TASK_STATE_SHUTDOWN)
	if err := b.agent.Release(context.Background(), stopping); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*fakeNode{a, b} {
		ev.True(t, n.name+"'s lb without web2", func() bool {
			serving, draining := n.backends("10.0.1.2")
			return len(draining) == 0 && (n == b && serving == nil || n == a && slices.Equal(serving, []string{"10.0.1.3"}))
		})
	}
	if eps := b.agent.EgressEndpoints(); len(eps) != 0 {
		t.Errorf("swarm-worker2's gateway bridge endpoints after its last task: %v", eps)
	}
	if b.sbx.count() != 0 || b.dns.count() != 0 || b.drv.HasNetwork(mynetID) {
		t.Fatalf("swarm-worker2 after its last task: %d namespaces, %d DNS attachments, network kept %v",
			b.sbx.count(), b.dns.count(), b.drv.HasNetwork(mynetID))
	}
}
