package allocator

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

func TestServiceAllocated(t *testing.T) {
	st := store.New(nil, nil)
	if err := st.Update(context.Background(), func(tx *store.Tx) error {
		for _, n := range []*api.Network{
			{Id: "in", Meta: &api.Meta{}, Spec: &api.NetworkSpec{Name: "ingress", Ingress: true}, Subnet: "10.0.0.0/24", Gateway: "10.0.0.1", Vni: 4096},
			{Id: "my", Meta: &api.Meta{}, Spec: &api.NetworkSpec{Name: "mynet"}, Subnet: "10.0.1.0/24", Gateway: "10.0.1.1", Vni: 4097},
		} {
			if err := tx.Create(n); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ports := &api.EndpointSpec{Ports: []*api.PortConfig{{TargetPort: 80}}}
	allocated := &api.Service{Spec: &api.ServiceSpec{Task: &api.TaskSpec{Networks: []*api.NetworkAttachmentConfig{{Target: "my"}}}, Endpoint: ports},
		Endpoint: &api.Endpoint{Spec: ports, Ports: []*api.PortConfig{{TargetPort: 80, PublishedPort: 30000}},
			VirtualIps: []*api.VirtualIP{{NetworkId: "in", Addr: "10.0.0.2/24", Fwmark: 0x100}, {NetworkId: "my", Addr: "10.0.1.2/30", Fwmark: 0x101}}}}
	change := func(f func(s *api.Service)) *api.Service {
		s := proto.Clone(allocated).(*api.Service)
		f(s)
		return s
	}
	for _, tc := range []struct {
		name string
		svc  *api.Service
		want bool
	}{
		{"a VIP on mynet and ingress, the dynamic port given", allocated, true},
		{"just written by the Control API", change(func(s *api.Service) { s.Endpoint = nil }), false},
		{"left mynet", change(func(s *api.Service) { s.Spec.Task.Networks = nil }), false},
		{"no VIP on ingress yet", change(func(s *api.Service) { s.Endpoint.VirtualIps = s.Endpoint.VirtualIps[1:] }), false},
		{"two VIPs on mynet", change(func(s *api.Service) {
			s.Endpoint.VirtualIps[0] = &api.VirtualIP{NetworkId: "my", Addr: "10.0.1.3/24", Fwmark: 0x102}
		}), false},
		{"the dynamic port not given", change(func(s *api.Service) { s.Endpoint.Ports[0].PublishedPort = 0 }), false},
		{"a new port asked for", change(func(s *api.Service) {
			s.Spec.Endpoint = &api.EndpointSpec{Ports: []*api.PortConfig{{TargetPort: 80, PublishedPort: 8080}}}
		}), false},
		{"dnsrr: no VIP wanted", change(func(s *api.Service) {
			s.Spec.Endpoint = &api.EndpointSpec{Mode: api.EndpointMode_ENDPOINT_MODE_DNSRR}
			s.Endpoint = &api.Endpoint{Spec: s.Spec.Endpoint}
		}), true},
	} {
		var got bool
		st.View(func(tx store.ReadTx) { got = ServiceAllocated(tx, tc.svc) })
		if got != tc.want {
			t.Errorf("%s: allocated %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A service that leaves a network gives its VIP there back once the loop
// has stored the change, and the next service on that network gets it.
func TestLeavingANetworkFreesItsVIP(t *testing.T) {
	st := store.New(nil, nil)
	ctx := context.Background()
	a := New(st, nil)
	create := func(o store.Object) {
		t.Helper()
		if err := st.Update(ctx, func(tx *store.Tx) error { return tx.Create(o) }); err != nil {
			t.Fatal(err)
		}
	}
	// A /30: the gateway and one address, so only a freed VIP can serve a
	// second service.
	create(&api.Network{Id: "my", Meta: &api.Meta{}, Spec: &api.NetworkSpec{Name: "mynet"}, Subnet: "10.0.1.0/30", Gateway: "10.0.1.1", Vni: 4097})
	create(&api.Service{Id: "web", Meta: &api.Meta{}, Spec: &api.ServiceSpec{Name: "web", Task: &api.TaskSpec{Networks: []*api.NetworkAttachmentConfig{{Target: "my"}}}}})
	a.Pass(ctx)
	vip := func(id string) string {
		var s *api.Service
		st.View(func(tx store.ReadTx) { s = tx.Service(id) })
		if v := s.GetEndpoint().GetVirtualIps(); len(v) == 1 {
			return v[0].GetAddr()
		}
		return ""
	}
	if got := vip("web"); got != "10.0.1.2/30" {
		t.Fatalf("web's VIP %q", got)
	}
	if err := st.Update(ctx, func(tx *store.Tx) error {
		s := proto.Clone(tx.Service("web")).(*api.Service)
		s.Spec.Task.Networks = nil
		return tx.Update(s)
	}); err != nil {
		t.Fatal(err)
	}
	a.Pass(ctx)
	if got := vip("web"); got != "" {
		t.Fatalf("web kept VIP %q on a network it left", got)
	}
	create(&api.Service{Id: "api", Meta: &api.Meta{}, Spec: &api.ServiceSpec{Name: "api", Task: &api.TaskSpec{Networks: []*api.NetworkAttachmentConfig{{Target: "my"}}}}})
	a.Pass(ctx)
	if got := vip("api"); got != "10.0.1.2/30" {
		t.Fatalf("the next service got %q, want the freed 10.0.1.2/30", got)
	}
}
