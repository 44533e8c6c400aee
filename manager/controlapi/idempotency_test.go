package controlapi

import (
	"context"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// unsureProposer commits like a single raft node but, for the proposals
// marked in unsure, then answers as a leader lost mid-commit does: the
// outcome is unknown. Proposals marked in late are held back and commit
// only just before the next proposal (an earlier attempt landing after its
// retry has checked the store). The API and the allocator propose from
// goroutines of their own, so it takes them one at a time, as raft does.
type unsureProposer struct {
	mu     sync.Mutex
	st     *store.Store
	idx    uint64
	n      int
	unsure map[int]bool
	late   map[int]bool
	held   *api.RaftCommand
}

func (p *unsureProposer) Propose(_ context.Context, cmd *api.RaftCommand) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	if p.held != nil {
		p.idx++
		_ = p.st.Apply(p.idx, p.held)
		p.held = nil
	}
	cmd = proto.Clone(cmd).(*api.RaftCommand)
	if p.late[p.n] {
		p.held = cmd
		return errdefs.OutcomeUnknown("service ls", nil)
	}
	p.idx++
	err := p.st.Apply(p.idx, cmd)
	if p.unsure[p.n] {
		return errdefs.OutcomeUnknown("service ls", nil)
	}
	return err
}

func countServices(st *store.Store, name string) (n int, id string) {
	st.View(func(tx store.ReadTx) {
		for _, s := range tx.Services() {
			if s.GetSpec().GetName() == name {
				n++
				id = s.GetId()
			}
		}
	})
	return n, id
}

func TestCreateRetriedWithItsKeyMakesNoDuplicate(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name         string
		unsure, late map[int]bool
	}{
		{"first attempt committed, then the leader was lost", map[int]bool{1: true}, nil},
		{"first attempt committed after the retry checked", nil, map[int]bool{1: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, st := newServer(t)
			st.SetProposer(&unsureProposer{st: st, idx: 1000, unsure: tc.unsure, late: tc.late})
			req := &api.CreateServiceRequest{Spec: webSpec("api"), IdempotencyKey: "req-7f3a"}
			_, err := s.CreateService(ctx, req)
			if !errdefs.Is(err, errdefs.KindOutcomeUnknown) {
				t.Fatalf("first attempt: %v", err)
			}
			got, err := s.CreateService(ctx, req)
			if err != nil {
				t.Fatalf("retry with the same key: %v", err)
			}
			n, id := countServices(st, "api")
			if n != 1 || got.GetService().GetId() != id {
				t.Fatalf("%d services named api; the retry returned %s, the store holds %s", n, got.GetService().GetId(), id)
			}
			// A third call with the same key still answers with that one.
			again, err := s.CreateService(ctx, req)
			if err != nil || again.GetService().GetId() != id {
				t.Fatalf("third call: %v %v", again, err)
			}
		})
	}
}

func TestCreateWithoutKeyOrWithAnotherKeyIsRefused(t *testing.T) {
	ctx := context.Background()
	s, st := newServer(t)
	st.SetProposer(&unsureProposer{st: st, idx: 1000, unsure: map[int]bool{1: true}})
	if _, err := s.CreateService(ctx, &api.CreateServiceRequest{Spec: webSpec("api"), IdempotencyKey: "k1"}); !errdefs.Is(err, errdefs.KindOutcomeUnknown) {
		t.Fatal(err)
	}
	if _, err := s.CreateService(ctx, &api.CreateServiceRequest{Spec: webSpec("api"), IdempotencyKey: "k2"}); !errdefs.Is(err, errdefs.KindAlreadyExists) {
		t.Fatalf("another key, same name: %v", err)
	}
	if _, err := s.CreateService(ctx, &api.CreateServiceRequest{Spec: webSpec("api")}); !errdefs.Is(err, errdefs.KindAlreadyExists) {
		t.Fatalf("no key, same name: %v", err)
	}
	if _, err := s.CreateService(ctx, &api.CreateServiceRequest{Spec: webSpec("other"), IdempotencyKey: "k1"}); !errdefs.Is(err, errdefs.KindInvalidArgument) {
		t.Fatalf("the key of another service: %v", err)
	}
	long := make([]byte, 200)
	for i := range long {
		long[i] = 'k'
	}
	if _, err := s.CreateService(ctx, &api.CreateServiceRequest{Spec: webSpec("x"), IdempotencyKey: string(long)}); !errdefs.Is(err, errdefs.KindInvalidArgument) {
		t.Fatalf("a 200-character key: %v", err)
	}
	if n, _ := countServices(st, "api"); n != 1 {
		t.Fatalf("%d services named api", n)
	}
}

func TestNetworkCreateRetriedWithItsKey(t *testing.T) {
	ctx := context.Background()
	s, st := newServer(t)
	st.SetProposer(&unsureProposer{st: st, idx: 1000, unsure: map[int]bool{1: true}})
	req := &api.CreateNetworkRequest{Spec: &api.NetworkSpec{Name: "backend", Driver: "overlay"}, IdempotencyKey: "net-1"}
	if _, err := s.CreateNetwork(ctx, req); !errdefs.Is(err, errdefs.KindOutcomeUnknown) {
		t.Fatal(err)
	}
	got, err := s.CreateNetwork(ctx, req)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	var id string
	st.View(func(tx store.ReadTx) { id = tx.NetworkByName("backend").GetId() })
	if got.GetNetwork().GetId() != id {
		t.Fatalf("retry returned %s, the store holds %s", got.GetNetwork().GetId(), id)
	}
}

// A request without a name draws a random one on each attempt: the key
// still makes the two attempts one service.
func TestUnnamedCreateRetriedWithItsKey(t *testing.T) {
	ctx := context.Background()
	s, st := newServer(t)
	st.SetProposer(&unsureProposer{st: st, idx: 1000, late: map[int]bool{1: true}})
	spec := webSpec("")
	req := &api.CreateServiceRequest{Spec: spec, IdempotencyKey: "unnamed-1"}
	if _, err := s.CreateService(ctx, req); !errdefs.Is(err, errdefs.KindOutcomeUnknown) {
		t.Fatal(err)
	}
	got, err := s.CreateService(ctx, req)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	n := 0
	st.View(func(tx store.ReadTx) {
		for _, svc := range tx.Services() {
			if svc.GetMeta().GetIdempotencyKey() == "unnamed-1" {
				n++
				if svc.GetId() != got.GetService().GetId() {
					t.Errorf("the retry returned %s, the store holds %s", got.GetService().GetId(), svc.GetId())
				}
			}
		}
	})
	if n != 1 {
		t.Fatalf("%d services made by one request", n)
	}
}
