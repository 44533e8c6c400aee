package controlapi

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/minsw/minsw/internal/errdefs"
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
	a := allocator.New(st, nil)
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
