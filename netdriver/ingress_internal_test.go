package netdriver

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/minsw/minsw/netdriver/ingress"
)

func TestPlanPublished(t *testing.T) {
	sbox := netip.MustParseAddr("172.18.0.2")
	p := func(n uint16) ingress.Port { return ingress.Port{Proto: ingress.TCP, Port: n} }
	marks := []ingress.PortMark{{Port: p(8080), Mark: 0x120}}
	host := []ingress.Publish{
		{Port: p(9090), To: netip.MustParseAddrPort("172.18.3.4:80")},
		{Port: p(8080), To: netip.MustParseAddrPort("172.18.3.5:80")},
	}
	pubs, clash := planPublished(sbox, marks, host)
	want := []ingress.Publish{{Port: p(8080), To: netip.MustParseAddrPort("172.18.0.2:8080")}, host[0]}
	if !slices.Equal(pubs, want) || !slices.Equal(clash, []ingress.Port{p(8080)}) {
		t.Errorf("pubs %v clash %v", pubs, clash)
	}
}
