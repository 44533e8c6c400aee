package store

import (
	"context"
	"strings"
	"testing"

	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

func holder(id, name, vip string, mark uint32, port uint32) *api.Service {
	s := &api.Service{Id: id, Meta: &api.Meta{}, Spec: &api.ServiceSpec{Name: name},
		Endpoint: &api.Endpoint{VirtualIps: []*api.VirtualIP{{NetworkId: "net1", Addr: vip, Fwmark: mark}}}}
	if port != 0 {
		s.Endpoint.Ports = []*api.PortConfig{{Protocol: api.PortProtocol_PORT_PROTOCOL_TCP, TargetPort: 80, PublishedPort: port}}
	}
	return s
}

// The store is the last word on who holds a VIP, a mark or a published
// port: a write giving one a second holder is refused, whatever the writer
// believed.
func TestStoreRefusesASecondHolder(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		second *api.Service
		want   string
	}{
		{"same VIP on the same network", holder("b", "b", "10.0.1.2/24", 0x101, 0), "VIP 10.0.1.2 on network net1 is already held by service web"},
		{"same mark", holder("b", "b", "10.0.1.3/24", 0x100, 0), "firewall mark 0x100 is already held by service web"},
		{"same published port", holder("b", "b", "10.0.1.3/24", 0x101, 8080), "published port 8080 is already held by service web"},
		{"same published port asked for, not yet allocated", func() *api.Service {
			s := &api.Service{Id: "b", Meta: &api.Meta{}, Spec: &api.ServiceSpec{Name: "b"}}
			s.Spec.Endpoint = &api.EndpointSpec{Ports: []*api.PortConfig{{Protocol: api.PortProtocol_PORT_PROTOCOL_TCP, TargetPort: 81, PublishedPort: 8080}}}
			return s
		}(), "published port 8080 is already held by service web"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := New(nil, nil)
			if err := st.Update(ctx, func(tx *Tx) error { return tx.Create(holder("a", "web", "10.0.1.2/24", 0x100, 8080)) }); err != nil {
				t.Fatal(err)
			}
			err := st.Update(ctx, func(tx *Tx) error { return tx.Create(tc.second) })
			if !errdefs.Is(err, errdefs.KindConflict) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("second holder: %v, want a conflict saying %q", err, tc.want)
			}
			// Through raft's path too (Apply), as every FSM applies it.
			err = st.Apply(100, &api.RaftCommand{Actions: []*api.StoreAction{newAction(api.StoreActionKind_STORE_ACTION_CREATE, tc.second)}})
			if !errdefs.Is(err, errdefs.KindConflict) {
				t.Fatalf("applied second holder: %v", err)
			}
			var n int
			st.View(func(tx ReadTx) { n = len(tx.Services()) })
			if n != 1 {
				t.Fatalf("%d services stored, want 1", n)
			}
		})
	}
	// A service updating itself keeps what it holds; another VIP is fine.
	st := New(nil, nil)
	if err := st.Update(ctx, func(tx *Tx) error { return tx.Create(holder("a", "web", "10.0.1.2/24", 0x100, 8080)) }); err != nil {
		t.Fatal(err)
	}
	if err := st.Update(ctx, func(tx *Tx) error {
		s := holder("a", "web", "10.0.1.2/24", 0x100, 8080)
		s.Meta.Version = tx.Service("a").GetMeta().GetVersion()
		return tx.Update(s)
	}); err != nil {
		t.Fatalf("self update: %v", err)
	}
	if err := st.Update(ctx, func(tx *Tx) error { return tx.Create(holder("b", "api", "10.0.1.3/24", 0x101, 8081)) }); err != nil {
		t.Fatalf("a distinct holder: %v", err)
	}
}

// Two networks planned at once (no lock is held across the write) may
// choose the same VNI or subnet: the store lets the first have them.
func TestStoreRefusesASecondNetworkWithTheSameVNIOrSubnet(t *testing.T) {
	ctx := context.Background()
	st := New(nil, nil)
	nw := func(id, subnet string, vni uint32) *api.Network {
		return &api.Network{Id: id, Meta: &api.Meta{}, Spec: &api.NetworkSpec{Name: id}, Subnet: subnet, Vni: vni}
	}
	if err := st.Update(ctx, func(tx *Tx) error { return tx.Create(nw("mynet", "10.0.1.0/24", 4097)) }); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		second *api.Network
		want   string
	}{
		{nw("b", "10.0.2.0/24", 4097), "VNI 4097 is already held by network mynet"},
		{nw("c", "10.0.0.0/16", 4098), "subnet 10.0.0.0/16 overlaps with network mynet (10.0.1.0/24)"},
	} {
		err := st.Apply(100, &api.RaftCommand{Actions: []*api.StoreAction{newAction(api.StoreActionKind_STORE_ACTION_CREATE, tc.second)}})
		if !errdefs.Is(err, errdefs.KindConflict) || err.Error() != tc.want {
			t.Errorf("%s: %v, want a conflict saying %q", tc.second.Id, err, tc.want)
		}
	}
	if err := st.Update(ctx, func(tx *Tx) error { return tx.Create(nw("d", "10.0.2.0/24", 4098)) }); err != nil {
		t.Fatalf("a distinct network: %v", err)
	}
}
