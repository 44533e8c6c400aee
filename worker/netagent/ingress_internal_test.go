package netagent

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/minsw/minsw/netdriver/ingress"
	"github.com/minsw/minsw/worker/gossip"
)

func TestPortMarks(t *testing.T) {
	vip := netip.MustParseAddr("10.0.0.10")
	web := func(task string, ports ...gossip.IngressPort) gossip.Endpoint {
		return gossip.Endpoint{NetworkID: "in", TaskID: task, ServiceID: "web", IP: netip.MustParseAddr("10.0.0.11"), VIP: vip, Mark: 0x120, IngressPorts: ports}
	}
	p8080 := gossip.IngressPort{Protocol: "tcp", Published: 8080, Target: 80}
	u8081 := gossip.IngressPort{Protocol: "udp", Published: 8081, Target: 53}
	tcp := func(p uint16, m uint32) ingress.PortMark {
		return ingress.PortMark{Port: ingress.Port{Proto: ingress.TCP, Port: p}, Mark: m}
	}
	for _, tc := range []struct {
		name      string
		eps       []gossip.Endpoint
		want      []ingress.PortMark
		conflicts int
	}{
		{"no service publishes: nothing", []gossip.Endpoint{{NetworkID: "in", ContainerID: "lb-node1", IP: netip.MustParseAddr("10.0.0.2")}}, nil, 0},
		{"two tasks of one service: one entry per port", []gossip.Endpoint{web("t1", p8080, u8081), web("t2", p8080, u8081)},
			[]ingress.PortMark{tcp(8080, 0x120), {Port: ingress.Port{Proto: ingress.UDP, Port: 8081}, Mark: 0x120}}, 0},
		{"same number, tcp and udp of two services: both", []gossip.Endpoint{web("t1", p8080),
			{NetworkID: "in", TaskID: "d1", ServiceID: "dns", IP: netip.MustParseAddr("10.0.0.21"), VIP: netip.MustParseAddr("10.0.0.20"), Mark: 0x121,
				IngressPorts: []gossip.IngressPort{{Protocol: "udp", Published: 8080, Target: 53}}}},
			[]ingress.PortMark{tcp(8080, 0x120), {Port: ingress.Port{Proto: ingress.UDP, Port: 8080}, Mark: 0x121}}, 0},
		{"a port claimed by two services (table mid-update): the lowest service id", []gossip.Endpoint{web("t1", p8080),
			{NetworkID: "in", TaskID: "a1", ServiceID: "api", IP: netip.MustParseAddr("10.0.0.31"), VIP: netip.MustParseAddr("10.0.0.30"), Mark: 0x122, IngressPorts: []gossip.IngressPort{p8080}}},
			[]ingress.PortMark{tcp(8080, 0x122)}, 1},
		{"no mark (dnsrr): left out", []gossip.Endpoint{{NetworkID: "in", TaskID: "x", ServiceID: "x", IP: netip.MustParseAddr("10.0.0.40"), IngressPorts: []gossip.IngressPort{p8080}}}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, c := portMarks(tc.eps)
			if !slices.Equal(got, tc.want) || c != tc.conflicts {
				t.Errorf("got %v (%d conflicts), want %v (%d)", got, c, tc.want, tc.conflicts)
			}
		})
	}
}
