package netagent

import (
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/minsw/minsw/netdriver"
	"github.com/minsw/minsw/netdriver/dns"
	"github.com/minsw/minsw/netdriver/lb"
	"github.com/minsw/minsw/worker/gossip"
)

const netID = "lpirdge00y3jq8w7e6r5t4y3u"

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

var (
	vtepA = ip("192.168.56.10")
	vtepB = ip("192.168.56.11")
)

func webEP(task, addr string, vtep netip.Addr) gossip.Endpoint {
	return gossip.Endpoint{NetworkID: netID, TaskID: task, ContainerID: task + "0123456789abcdef", Name: "web.1." + task,
		ServiceID: "websvc", ServiceName: "web", IP: ip(addr), VTEP: vtep, VIP: ip("10.0.1.30"), Mark: 0x106}
}

func TestCompute(t *testing.T) {
	lbA := gossip.Endpoint{NetworkID: netID, ContainerID: "lb-nodeA", IP: ip("10.0.1.37"), VTEP: vtepA}
	lbB := gossip.Endpoint{NetworkID: netID, ContainerID: "lb-nodeB", IP: ip("10.0.1.38"), VTEP: vtepB}
	client := gossip.Endpoint{NetworkID: netID, TaskID: "c1", ContainerID: "c10123456789abcdef", Name: "client.1.c1",
		ServiceID: "clientsvc", ServiceName: "client", IP: ip("10.0.1.36"), VTEP: vtepA, VIP: ip("10.0.1.35"), Mark: 0x107}
	tests := []struct {
		name      string
		eps       []gossip.Endpoint
		peers     []string
		services  []lb.Service
		names     []string
		conflicts int
		withdrawn []string
	}{
		{
			name:  "seed: two web tasks on two nodes and a client on this one",
			eps:   []gossip.Endpoint{lbA, lbB, webEP("w2", "10.0.1.32", vtepB), webEP("w1", "10.0.1.31", vtepA), client},
			peers: []string{"10.0.1.32", "10.0.1.38"},
			services: []lb.Service{
				{VIP: ip("10.0.1.30"), Mark: 0x106, Backends: []netip.Addr{ip("10.0.1.31"), ip("10.0.1.32")}},
				{VIP: ip("10.0.1.35"), Mark: 0x107, Backends: []netip.Addr{ip("10.0.1.36")}},
			},
			names: []string{"c1", "w1", "w2"},
		},
		{
			name: "a web task told to stop drains: still a peer and a backend at weight 0, no longer a name",
			eps: []gossip.Endpoint{lbA, lbB, webEP("w1", "10.0.1.31", vtepA), func() gossip.Endpoint {
				e := webEP("w2", "10.0.1.32", vtepB)
				e.Draining = true
				return e
			}()},
			peers: []string{"10.0.1.32", "10.0.1.38"},
			services: []lb.Service{{VIP: ip("10.0.1.30"), Mark: 0x106, Backends: []netip.Addr{ip("10.0.1.31")},
				Draining: []netip.Addr{ip("10.0.1.32")}}},
			names:     []string{"w1"},
			withdrawn: []string{"w2"},
		},
		{
			name:  "only lb endpoints: peers but no service and no name",
			eps:   []gossip.Endpoint{lbA, lbB},
			peers: []string{"10.0.1.38"},
		},
		{
			name: "a second service claiming a taken VIP is left out",
			eps: []gossip.Endpoint{webEP("w1", "10.0.1.31", vtepA), func() gossip.Endpoint {
				e := webEP("x1", "10.0.1.40", vtepA)
				e.ServiceID, e.ServiceName, e.Mark = "zsvc", "z", 0x108
				return e
			}()},
			services:  []lb.Service{{VIP: ip("10.0.1.30"), Mark: 0x106, Backends: []netip.Addr{ip("10.0.1.31")}}},
			names:     []string{"w1", "x1"},
			conflicts: 1,
		},
		{
			name:  "entries of another network are ignored",
			eps:   []gossip.Endpoint{{NetworkID: "other", ContainerID: "lb-x", IP: ip("10.0.2.2"), VTEP: vtepB}},
			names: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := compute(netID, tc.eps, vtepA)
			var peers []string
			for _, p := range d.peers {
				peers = append(peers, p.Addr.String())
			}
			if !reflect.DeepEqual(peers, tc.peers) {
				t.Errorf("peers = %v, want %v", peers, tc.peers)
			}
			if !reflect.DeepEqual(d.services, tc.services) {
				t.Errorf("services = %v, want %v", d.services, tc.services)
			}
			var names []string
			for _, k := range sortedKeys(d.names) {
				names = append(names, k)
			}
			if !reflect.DeepEqual(names, tc.names) {
				t.Errorf("names = %v, want %v", names, tc.names)
			}
			if d.conflicts != tc.conflicts {
				t.Errorf("conflicts = %d, want %d", d.conflicts, tc.conflicts)
			}
			if !reflect.DeepEqual(d.withdrawn, tc.withdrawn) {
				t.Errorf("withdrawn = %v, want %v", d.withdrawn, tc.withdrawn)
			}
		})
	}
}

func TestComputeDNSEntry(t *testing.T) {
	d := compute(netID, []gossip.Endpoint{webEP("w1", "10.0.1.31", vtepB)}, vtepA)
	want := dns.Endpoint{Network: netID, ID: "w1", Names: []string{"web.1.w1", "w10123456789"}, Service: "web",
		VIP: ip("10.0.1.30"), Addr: ip("10.0.1.31")}
	if got := d.names["w1"]; !reflect.DeepEqual(got, want) {
		t.Errorf("dns entry = %+v, want %+v", got, want)
	}
	if want := []netdriver.Peer{{Addr: ip("10.0.1.31"), VTEP: vtepB}}; !reflect.DeepEqual(d.peers, want) {
		t.Errorf("peers = %+v, want %+v", d.peers, want)
	}

	// A stack's service carries its short name as an alias on the network.
	ep := webEP("w2", "10.0.1.32", vtepB)
	ep.Aliases = []string{"www"}
	b, err := gossip.MarshalEndpoint(ep)
	if err != nil {
		t.Fatal(err)
	}
	if ep, err = gossip.UnmarshalEndpoint(b); err != nil {
		t.Fatal(err)
	}
	d = compute(netID, []gossip.Endpoint{ep}, vtepA)
	if got := d.names["w2"].ServiceAliases; !reflect.DeepEqual(got, []string{"www"}) {
		t.Errorf("aliases through gossip into the dns entry: %v", got)
	}
}

func TestDiffNames(t *testing.T) {
	a := dns.Endpoint{Network: netID, ID: "a", Names: []string{"a"}, Addr: ip("10.0.1.2")}
	b := dns.Endpoint{Network: netID, ID: "b", Names: []string{"b"}, Addr: ip("10.0.1.3")}
	b2 := b
	b2.Addr = ip("10.0.1.4")
	c := dns.Endpoint{Network: netID, ID: "c", Names: []string{"c"}, Addr: ip("10.0.1.5")}
	set, del := diffNames(map[string]dns.Endpoint{"a": a, "b": b}, map[string]dns.Endpoint{"b": b2, "c": c})
	if !reflect.DeepEqual(set, []dns.Endpoint{b2, c}) || !reflect.DeepEqual(del, []string{"a"}) {
		t.Errorf("set %v del %v", set, del)
	}
	set, del = diffNames(map[string]dns.Endpoint{"a": a}, map[string]dns.Endpoint{"a": a})
	if len(set)+len(del) != 0 {
		t.Errorf("no change gave set %v del %v", set, del)
	}
}

func TestEgressPool(t *testing.T) {
	p := newEgressPool(netip.MustParsePrefix("172.18.0.0/29")) // .2 to .6 usable
	seen := map[netip.Addr]bool{}
	for i := range 5 {
		a, ok := p.get(string(rune('a' + i)))
		if !ok {
			t.Fatalf("pool full after %d", i)
		}
		if seen[a.Addr()] || a.Addr() == ip("172.18.0.0") || a.Addr() == ip("172.18.0.1") || a.Addr() == ip("172.18.0.7") {
			t.Fatalf("bad or duplicate address %v", a)
		}
		seen[a.Addr()] = true
	}
	if _, ok := p.get("f"); ok {
		t.Fatal("sixth address from a five-address pool")
	}
	again, _ := p.get("c")
	p.release("c")
	if a, ok := p.get("f"); !ok || a != again {
		t.Fatalf("released address not reused: %v %v", a, ok)
	}
	if p.reserve("g", ip("172.18.0.1")) {
		t.Fatal("reserved the gateway")
	}
	// Sequential, as docker's: with the ingress sandbox on .2, containers
	// get .3, .4, ...
	seq := newEgressPool(netip.MustParsePrefix("172.18.0.0/16"))
	seq.reserve("ingress_sbox", ip("172.18.0.2"))
	for i, want := range []string{"172.18.0.3/16", "172.18.0.4/16", "172.18.0.5/16"} {
		if a, _ := seq.get(string(rune('p' + i))); a.String() != want {
			t.Fatalf("container %d got %v, want %s", i, a, want)
		}
	}
	q := newEgressPool(netip.MustParsePrefix("172.18.0.0/16"))
	x, _ := q.get("container-x")
	r := newEgressPool(netip.MustParsePrefix("172.18.0.0/16"))
	if y, _ := r.get("container-x"); x != y {
		t.Fatalf("first choice not deterministic: %v vs %v", x, y)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := slices.Collect(maps.Keys(m))
	slices.Sort(out)
	return out
}
