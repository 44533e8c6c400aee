package controlapi

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/internal/eventually"
	"github.com/minsw/minsw/manager/allocator"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// lateCommit is raft as the caller sees it when it presses Ctrl-C during
// `service create`: the entry is appended and commits, but Propose has
// already returned the caller's context error (an unknown outcome).
type lateCommit struct {
	st *store.Store

	mu    sync.Mutex
	idx   uint64
	ctrlC bool
}

func (p *lateCommit) Propose(ctx context.Context, cmd *api.RaftCommand) error {
	p.mu.Lock()
	p.idx++
	idx, ctrlC := p.idx, p.ctrlC
	p.mu.Unlock()
	applyErr := p.st.Apply(idx, cmd)
	if ctrlC {
		return errdefs.OutcomeUnknown("service ls", context.Canceled)
	}
	return applyErr
}

func (p *lateCommit) setCtrlC(on bool) {
	p.mu.Lock()
	p.ctrlC = on
	p.mu.Unlock()
}

// A create whose outcome the caller never learned may still commit: the
// VIP and mark it was given belong to the committed service, and no later
// service may get them.
func TestCreateWhoseOutcomeIsUnknownKeepsItsVIPAndMark(t *testing.T) {
	p := &lateCommit{}
	st := store.New(p, nil)
	p.st = st
	a := runAllocator(t, st)
	s := New(Config{Store: st, Allocator: func() *allocator.Allocator { return a }, Raft: fakeRaft{leader: "mgr"}})
	ctx := context.Background()
	if err := st.Update(ctx, func(tx *store.Tx) error {
		return tx.Create(&api.Cluster{Id: "cluster", Meta: &api.Meta{}, Spec: &api.ClusterSpec{}, JoinTokens: &api.JoinTokens{}})
	}); err != nil {
		t.Fatal(err)
	}
	// A /29: five addresses after the gateway, so a freed one comes round
	// again within a few creates.
	if _, err := s.CreateNetwork(ctx, &api.CreateNetworkRequest{Spec: &api.NetworkSpec{Name: "small", Driver: "overlay",
		Subnet: "10.9.0.0/29"}}); err != nil {
		t.Fatal(err)
	}
	svc := func(name string) *api.ServiceSpec {
		sp := webSpec(name)
		sp.Task.Networks = []*api.NetworkAttachmentConfig{{Target: "small"}}
		return sp
	}

	p.setCtrlC(true)
	_, err := s.CreateService(ctx, &api.CreateServiceRequest{Spec: svc("interrupted")})
	if !errdefs.Is(err, errdefs.KindOutcomeUnknown) {
		t.Fatalf("interrupted create: %v, want an unknown outcome", err)
	}
	p.setCtrlC(false)
	var committed *api.Service
	st.View(func(tx store.ReadTx) { committed = tx.ServiceByName("interrupted") })
	if committed == nil {
		t.Fatal("the interrupted create did not commit: the test's raft is wrong")
	}
	// The allocator loop gives the committed service its addresses, whatever
	// its creator was told.
	eventually.True(t, "the interrupted service's VIP", func() bool {
		st.View(func(tx store.ReadTx) { committed = tx.ServiceByName("interrupted") })
		return len(committed.GetEndpoint().GetVirtualIps()) == 1
	})
	t.Logf("committed despite the caller's Ctrl-C: VIP %s mark %#x", committed.Endpoint.VirtualIps[0].Addr, committed.Endpoint.VirtualIps[0].Fwmark)

	// Later services take the rest of the subnet; none may take a VIP or
	// mark a committed service holds.
	for i := range 6 {
		_, err := s.CreateService(ctx, &api.CreateServiceRequest{Spec: svc(fmt.Sprintf("later%d", i))})
		if err != nil && !errdefs.Is(err, errdefs.KindFailedPrecondition) {
			t.Fatalf("later%d: %v", i, err)
		}
	}
	vips, marks := map[string]string{}, map[uint32]string{}
	st.View(func(tx store.ReadTx) {
		for _, sv := range tx.Services() {
			for _, v := range sv.GetEndpoint().GetVirtualIps() {
				key := v.GetNetworkId() + "/" + v.GetAddr()
				if other, dup := vips[key]; dup {
					t.Errorf("VIP %s held by both %s and %s", v.GetAddr(), other, sv.GetSpec().GetName())
				}
				vips[key] = sv.GetSpec().GetName()
				if other, dup := marks[v.GetFwmark()]; dup {
					t.Errorf("mark %#x held by both %s and %s", v.GetFwmark(), other, sv.GetSpec().GetName())
				}
				marks[v.GetFwmark()] = sv.GetSpec().GetName()
			}
		}
	})
}

// The routing mesh is not removed from under a service that publishes a
// port through it; once none does, it may go.
func TestIngressIsKeptWhileServicesPublishPorts(t *testing.T) {
	s, _ := newServer(t)
	ctx := context.Background()
	spec := webSpec("pub")
	spec.Endpoint = &api.EndpointSpec{Ports: []*api.PortConfig{{TargetPort: 80, PublishedPort: 8080}}}
	if _, err := s.CreateService(ctx, &api.CreateServiceRequest{Spec: spec}); err != nil {
		t.Fatal(err)
	}
	_, err := s.RemoveNetwork(ctx, &api.RemoveNetworkRequest{Ref: "ingress"})
	if !errdefs.Is(err, errdefs.KindFailedPrecondition) || err.Error() != "ingress network cannot be removed because service pub depends on it" {
		t.Fatalf("rm ingress under a publishing service: %v", err)
	}
	if _, err := s.RemoveService(ctx, &api.RemoveServiceRequest{Ref: "pub"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RemoveNetwork(ctx, &api.RemoveNetworkRequest{Ref: "ingress"}); err != nil {
		t.Fatalf("rm ingress with no publisher: %v", err)
	}
}

// heldRaft is raft whose commit of one named object's creation waits until
// the test lets it go: the round trip of a slow `service create` (or
// `network create`), during which other users' writes must go on.
type heldRaft struct {
	st   *store.Store
	name string // the service or network whose create is held

	mu      sync.Mutex
	idx     uint64
	held    chan struct{} // closed once the create is waiting
	release chan struct{}
	once    sync.Once
	actions []*api.StoreAction // every action proposed, in order
}

func newHeldRaft(name string) *heldRaft {
	return &heldRaft{name: name, held: make(chan struct{}), release: make(chan struct{})}
}

func (p *heldRaft) Propose(ctx context.Context, cmd *api.RaftCommand) error {
	for _, a := range cmd.GetActions() {
		if p.name == "" || a.GetKind() != api.StoreActionKind_STORE_ACTION_CREATE {
			continue
		}
		if a.GetService().GetSpec().GetName() == p.name || a.GetNetwork().GetSpec().GetName() == p.name {
			p.once.Do(func() { close(p.held) })
			select {
			case <-p.release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.idx++
	p.actions = append(p.actions, cmd.GetActions()...)
	return p.st.Apply(p.idx, cmd)
}

// newHeldServer is a Control server over heldRaft, with the allocator loop
// running as on a leader, an ingress network and mynet.
func newHeldServer(t *testing.T, p *heldRaft) *Server {
	t.Helper()
	st := store.New(p, nil)
	p.st = st
	a := runAllocator(t, st)
	s := New(Config{Store: st, Allocator: func() *allocator.Allocator { return a }, Raft: fakeRaft{leader: "mgr"}})
	ctx := context.Background()
	if err := st.Update(ctx, func(tx *store.Tx) error {
		return tx.Create(&api.Cluster{Id: "cluster", Meta: &api.Meta{}, Spec: &api.ClusterSpec{}, JoinTokens: &api.JoinTokens{}})
	}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"ingress", "mynet"} {
		if _, err := s.CreateNetwork(ctx, &api.CreateNetworkRequest{Spec: &api.NetworkSpec{Name: n, Driver: "overlay", Ingress: n == "ingress"}}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// call runs f in its own goroutine; the returned func waits for its error,
// failing the test if it does not come within a generous time (it would
// come never if f waited on a lock held across the other write's round
// trip).
func call(t *testing.T, what string, f func() error) func() error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	return func() error {
		t.Helper()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatalf("%s did not finish while another write was waiting for raft", what)
			return nil
		}
	}
}

// The Control API writes what the user asked for and hands out no address
// itself: the create it proposes carries no VIP, mark or published port;
// the allocator loop gives them, and `service create` still answers with
// them.
func TestControlAPIHandsOutNoAddresses(t *testing.T) {
	p := newHeldRaft("")
	s := newHeldServer(t, p)
	ctx := context.Background()
	spec := webSpec("front")
	spec.Endpoint = &api.EndpointSpec{Ports: []*api.PortConfig{{TargetPort: 80, PublishedPort: 8080}, {TargetPort: 81}}}
	r, err := s.CreateService(ctx, &api.CreateServiceRequest{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	if v := r.GetService().GetEndpoint().GetVirtualIps(); len(v) != 2 {
		t.Fatalf("service create answered before its VIPs were given: %v", v)
	}
	if p := r.GetService().GetEndpoint().GetPorts(); len(p) != 2 || p[0].GetPublishedPort() != 8080 || p[1].GetPublishedPort() != 30000 {
		t.Fatalf("ports %v", p)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range p.actions {
		if a.GetKind() == api.StoreActionKind_STORE_ACTION_CREATE && a.GetService() != nil {
			ep := a.GetService().GetEndpoint()
			if len(ep.GetVirtualIps()) != 0 || len(ep.GetPorts()) != 0 {
				t.Fatalf("the Control API's create allocated addresses itself: %v", ep)
			}
		}
	}
}

// Two users publish the same port at the same time. Neither waits for the
// other's raft round trip (no lock is held across it); the store, applying
// the log in order, lets one have the port, and the other is told in the
// same words as when the port was already taken.
func TestSamePortPublishedTwiceAtOnce(t *testing.T) {
	p := newHeldRaft("slow")
	s := newHeldServer(t, p)
	ctx := context.Background()
	slow := call(t, "the slow create", func() error {
		_, err := s.CreateService(ctx, &api.CreateServiceRequest{Spec: publishing("slow", &api.PortConfig{PublishedPort: 8080, TargetPort: 80})})
		return err
	})
	<-p.held
	fast := call(t, "the fast create", func() error {
		_, err := s.CreateService(ctx, &api.CreateServiceRequest{Spec: publishing("fast", &api.PortConfig{PublishedPort: 8080, TargetPort: 80})})
		return err
	})
	if err := fast(); err != nil {
		t.Fatalf("fast create: %v", err)
	}
	close(p.release)
	err := slow()
	if !errdefs.Is(err, errdefs.KindFailedPrecondition) || err.Error() != "port '8080' is already in use by service 'fast' as an ingress port" {
		t.Fatalf("slow create of a port taken meanwhile: %v", err)
	}
	r, err := s.GetService(ctx, &api.GetServiceRequest{Ref: "fast"})
	if err != nil || r.GetService().GetEndpoint().GetPorts()[0].GetPublishedPort() != 8080 {
		t.Fatalf("fast: %v %v", r, err)
	}
	if _, err := s.GetService(ctx, &api.GetServiceRequest{Ref: "slow"}); !errdefs.Is(err, errdefs.KindNotFound) {
		t.Fatalf("slow was stored: %v", err)
	}
}

// Two networks created at once get different subnets and VNIs, without
// one waiting for the other's raft round trip.
func TestTwoNetworksCreatedAtOnce(t *testing.T) {
	p := newHeldRaft("slownet")
	s := newHeldServer(t, p)
	ctx := context.Background()
	slow := call(t, "the slow network create", func() error {
		_, err := s.CreateNetwork(ctx, &api.CreateNetworkRequest{Spec: &api.NetworkSpec{Name: "slownet", Driver: "overlay"}})
		return err
	})
	<-p.held
	fast := call(t, "the fast network create", func() error {
		_, err := s.CreateNetwork(ctx, &api.CreateNetworkRequest{Spec: &api.NetworkSpec{Name: "fastnet", Driver: "overlay"}})
		return err
	})
	if err := fast(); err != nil {
		t.Fatal(err)
	}
	close(p.release)
	if err := slow(); err != nil {
		t.Fatal(err)
	}
	a, _ := s.GetNetwork(ctx, &api.GetNetworkRequest{Ref: "fastnet"})
	b, _ := s.GetNetwork(ctx, &api.GetNetworkRequest{Ref: "slownet"})
	if a.GetNetwork().GetSubnet() == b.GetNetwork().GetSubnet() || a.GetNetwork().GetVni() == b.GetNetwork().GetVni() {
		t.Fatalf("two networks share a subnet or VNI: %v %v", a.GetNetwork(), b.GetNetwork())
	}
	t.Logf("fastnet %s vni %d, slownet %s vni %d", a.GetNetwork().GetSubnet(), a.GetNetwork().GetVni(), b.GetNetwork().GetSubnet(), b.GetNetwork().GetVni())
}
