package allocator

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

func TestPoolHandsOutSeriallyAndReusesLast(t *testing.T) {
	p, err := NewPool(netip.MustParsePrefix("10.0.1.0/29"))
	if err != nil {
		t.Fatal(err)
	}
	_ = p.Reserve(netip.MustParseAddr("10.0.1.1")) // gateway
	var got []string
	for i := 0; i < 5; i++ {
		a, err := p.Allocate()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a.String())
	}
	if want := "[10.0.1.2 10.0.1.3 10.0.1.4 10.0.1.5 10.0.1.6]"; (func() string { return sprint(got) })() != want {
		t.Fatalf("got %v, want %v", got, want)
	}
	if _, err := p.Allocate(); !errdefs.Is(err, errdefs.KindFailedPrecondition) {
		t.Fatalf("full pool: %v", err)
	}
	p.Release(netip.MustParseAddr("10.0.1.3"))
	p.Release(netip.MustParseAddr("10.0.1.5"))
	a, _ := p.Allocate()
	if a.String() != "10.0.1.3" {
		t.Fatalf("after wrap got %v", a)
	}
}

func sprint(s []string) string {
	out := "["
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out + "]"
}

func TestMACFromIPAsDocker(t *testing.T) {
	if got := MACFromIP(netip.MustParseAddr("10.0.1.37")); got != "02:42:0a:00:01:25" {
		t.Fatalf("got %s", got)
	}
}

func TestNetworkPlanning(t *testing.T) {
	st := store.New(nil, nil)
	create := func(name, subnet string) (*api.Network, error) {
		var n *api.Network
		err := st.Update(context.Background(), func(tx *store.Tx) error {
			spec := &api.NetworkSpec{Name: name, Driver: "overlay", Subnet: subnet}
			sub, gw, vni, err := PlanNetwork(tx.ReadTx, spec)
			if err != nil {
				return err
			}
			n = &api.Network{Id: "id-" + name, Meta: &api.Meta{}, Spec: spec, Subnet: sub.String(), Gateway: gw.String(), Vni: vni}
			return tx.Create(n)
		})
		return n, err
	}
	cases := []struct {
		name, subnet string
		wantSubnet   string
		wantVNI      uint32
		wantErr      errdefs.Kind
	}{
		{name: "ingress", wantSubnet: "10.0.0.0/24", wantVNI: 4096},
		{name: "mynet", wantSubnet: "10.0.1.0/24", wantVNI: 4097},
		{name: "custom", subnet: "10.0.5.0/24", wantSubnet: "10.0.5.0/24", wantVNI: 4098},
		{name: "next skips the custom one", wantSubnet: "10.0.2.0/24", wantVNI: 4099},
		{name: "overlapping subnet refused", subnet: "10.0.0.0/16", wantErr: errdefs.KindFailedPrecondition},
		{name: "malformed subnet refused", subnet: "10.0.300.0/24", wantErr: errdefs.KindInvalidArgument},
		{name: "host bits refused", subnet: "10.9.0.1/24", wantErr: errdefs.KindInvalidArgument},
		{name: "ipv6 refused", subnet: "fd00::/64", wantErr: errdefs.KindInvalidArgument},
	}
	for _, c := range cases {
		n, err := create(c.name, c.subnet)
		if c.wantErr != errdefs.KindUnknown {
			if !errdefs.Is(err, c.wantErr) {
				t.Errorf("%s: got %v, want kind %v", c.name, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if n.Subnet != c.wantSubnet || n.Vni != c.wantVNI {
			t.Errorf("%s: got %s vni %d, want %s vni %d", c.name, n.Subnet, n.Vni, c.wantSubnet, c.wantVNI)
		}
	}
	var count int
	st.View(func(tx store.ReadTx) { count = len(tx.Networks()) })
	if count != 4 {
		t.Fatalf("refused networks reached the store: %d networks", count)
	}
}

func TestTasksAndNodesGetAddresses(t *testing.T) {
	st := store.New(nil, nil)
	ctx := context.Background()
	net := &api.Network{Id: "net1", Meta: &api.Meta{}, Spec: &api.NetworkSpec{Name: "mynet"}, Subnet: "10.0.1.0/24", Gateway: "10.0.1.1", Vni: 4097}
	svc := &api.Service{Id: "svc1", Meta: &api.Meta{}, Spec: &api.ServiceSpec{Name: "web", Task: &api.TaskSpec{Networks: []*api.NetworkAttachmentConfig{{Target: "net1"}}}}}
	a := New(st, nil)
	err := st.Update(ctx, func(tx *store.Tx) error {
		if err := tx.Create(net); err != nil {
			return err
		}
		if err := tx.Create(svc); err != nil {
			return err
		}
		if err := tx.Create(&api.Node{Id: "node1", Meta: &api.Meta{}}); err != nil {
			return err
		}
		for _, id := range []string{"t1", "t2"} {
			if err := tx.Create(&api.Task{Id: id, Meta: &api.Meta{}, ServiceId: "svc1", Spec: svc.Spec.Task, Status: &api.TaskStatus{}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// One pass gives the service its VIP, then its tasks their addresses
	// and the service's endpoint.
	a.Pass(ctx)
	st.View(func(tx store.ReadTx) {
		if v := tx.Service("svc1").GetEndpoint().GetVirtualIps(); len(v) != 1 || v[0].Addr != "10.0.1.2/24" || v[0].Fwmark != FirstMark {
			t.Fatalf("VIP %v", v)
		}
		seen := map[string]bool{"10.0.1.2/24": true}
		for _, tk := range tx.Tasks() {
			if tk.Status.State != api.TaskState_TASK_STATE_PENDING || len(tk.Networks) != 1 {
				t.Fatalf("task %s: %v", tk.Id, tk)
			}
			// docker's EndpointID: 64 hex digits, one per endpoint.
			if id := tk.Networks[0].EndpointId; len(id) != 64 || strings.Trim(id, "0123456789abcdef") != "" || seen["ep/"+id] {
				t.Fatalf("task %s endpoint ID %q", tk.Id, id)
			} else {
				seen["ep/"+id] = true
			}
			addr := tk.Networks[0].Addresses[0]
			if seen[addr] {
				t.Fatalf("address %s handed out twice", addr)
			}
			seen[addr] = true
			if tk.Endpoint.GetVirtualIps()[0].GetAddr() != "10.0.1.2/24" {
				t.Fatal("task does not carry the service's VIP")
			}
		}
	})
	// Assign t1 to node1: the node gets an lb endpoint on mynet.
	_ = st.Update(ctx, func(tx *store.Tx) error {
		tk := cloneTask(tx.Task("t1"))
		tk.NodeId = "node1"
		return tx.Update(tk)
	})
	a.Pass(ctx)
	st.View(func(tx store.ReadTx) {
		lb := tx.Node("node1").GetLbAttachments()
		if len(lb) != 1 || lb[0].NetworkId != "net1" || lb[0].Addresses[0] != "10.0.1.5/24" {
			t.Fatalf("lb attachments %v", lb)
		}
	})
	// A fresh allocator (new leader) rebuilt from the store hands out a new address.
	b := New(st, nil)
	var att *api.NetworkAttachment
	st.View(func(tx store.ReadTx) {
		b.mu.Lock()
		att, _ = b.allocateAttachment(tx, "net1", nil)
		b.mu.Unlock()
	})
	if att.Addresses[0] != "10.0.1.6/24" {
		t.Fatalf("rebuilt allocator handed out %v", att.Addresses)
	}
}

func cloneTask(t *api.Task) *api.Task { return proto.Clone(t).(*api.Task) }

func TestPublishingTasksJoinIngress(t *testing.T) {
	st := store.New(nil, nil)
	ctx := context.Background()
	a := New(st, nil)
	ingress := &api.Network{Id: "ing", Meta: &api.Meta{}, Spec: &api.NetworkSpec{Name: "ingress", Ingress: true}, Subnet: "10.0.0.0/24", Gateway: "10.0.0.1", Vni: 4096}
	svc := &api.Service{Id: "svc", Meta: &api.Meta{}, Spec: &api.ServiceSpec{Name: "front", Task: &api.TaskSpec{},
		Endpoint: &api.EndpointSpec{Ports: []*api.PortConfig{{PublishedPort: 8080, TargetPort: 80}}}}}
	err := st.Update(ctx, func(tx *store.Tx) error {
		if err := tx.Create(ingress); err != nil {
			return err
		}
		if err := PlanPorts(tx.ReadTx, svc); err != nil {
			return err
		}
		if err := tx.Create(svc); err != nil {
			return err
		}
		return tx.Create(&api.Task{Id: "t1", Meta: &api.Meta{}, ServiceId: "svc", Spec: svc.Spec.Task, Status: &api.TaskStatus{}})
	})
	if err != nil {
		t.Fatal(err)
	}
	a.Pass(ctx)
	st.View(func(tx store.ReadTx) {
		nets := tx.Task("t1").Networks
		if len(nets) != 1 || nets[0].NetworkId != "ing" || nets[0].Addresses[0] != "10.0.0.3/24" {
			t.Fatalf("task attachments %v (VIP %v)", nets, svc.Endpoint.VirtualIps)
		}
	})
}

func TestEveryNodeGetsAnIngressEndpoint(t *testing.T) {
	st := store.New(nil, nil)
	ctx := context.Background()
	_ = st.Update(ctx, func(tx *store.Tx) error {
		_ = tx.Create(&api.Network{Id: "ing", Meta: &api.Meta{}, Spec: &api.NetworkSpec{Name: "ingress", Ingress: true}, Subnet: "10.0.0.0/24", Gateway: "10.0.0.1", Vni: 4096})
		_ = tx.Create(&api.Node{Id: "n1", Meta: &api.Meta{}})
		return tx.Create(&api.Node{Id: "n2", Meta: &api.Meta{}})
	})
	New(st, nil).Pass(ctx)
	st.View(func(tx store.ReadTx) {
		seen := map[string]bool{}
		for _, n := range tx.Nodes() {
			atts := n.GetLbAttachments()
			if len(atts) != 1 || atts[0].NetworkId != "ing" || seen[atts[0].Addresses[0]] {
				t.Fatalf("node %s: %v", n.Id, atts)
			}
			seen[atts[0].Addresses[0]] = true
		}
	})
}
