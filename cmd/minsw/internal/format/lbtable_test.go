package format

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/minsw/minsw/netdriver"
	"github.com/minsw/minsw/netdriver/ingress"
	"github.com/minsw/minsw/netdriver/lb"
)

func TestLBTable(t *testing.T) {
	a := netip.MustParseAddr
	infos := []netdriver.NetworkInfo{
		{ID: "lpirdge00y0123456789", Name: "mynet", LBNetns: "/run/netns/lb_lpirdge00", LBAddr: netip.MustParsePrefix("10.0.1.4/24"), Backend: "nftables",
			Services: []lb.Service{{VIP: a("10.0.1.30"), Mark: 0x106, Backends: []netip.Addr{a("10.0.1.31")}, Draining: []netip.Addr{a("10.0.1.32")}}},
			Conns:    []lb.Conns{{Mark: 0x106, Backend: a("10.0.1.31"), Active: 1, Inactive: 2}, {Mark: 0x106, Backend: a("10.0.1.32"), Active: 3}}},
		{ID: "ingressid", Name: "ingress", LBNetns: "/run/netns/ingress_sbox", LBAddr: netip.MustParsePrefix("10.0.0.2/24"), Backend: "ipvs",
			Ingress: &netdriver.IngressInfo{SboxAddr: netip.MustParsePrefix("172.18.0.2/16"),
				Published: []ingress.Publish{{Port: ingress.Port{Proto: ingress.TCP, Port: 8080}}, {Port: ingress.Port{Proto: ingress.TCP, Port: 9090}, To: netip.MustParseAddrPort("172.18.0.3:80")}},
				Marks:     []ingress.PortMark{{Port: ingress.Port{Proto: ingress.TCP, Port: 8080}, Mark: 0x120}}},
			Services: []lb.Service{{VIP: a("10.0.0.5"), Mark: 0x120, Backends: []netip.Addr{a("10.0.0.11")}}}},
	}
	var b strings.Builder
	if err := LBTable(&b, infos); err != nil {
		t.Fatal(err)
	}
	want := `Network mynet (lpirdge00y01)  lb lb_lpirdge00  endpoint 10.0.1.4/24  backend nftables
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
FWM  262 rr                        (VIP 10.0.1.30, mark 0x106)
  -> 10.0.1.31:0                  Masq    1      1          2
  -> 10.0.1.32:0                  Masq    0      3          0

Network ingress (ingressid)  lb ingress_sbox  endpoint 10.0.0.2/24  backend ipvs
Routing mesh: ingress_sbox  gateway leg 172.18.0.2/16
  *:8080/tcp       -> ingress_sbox mark 0x120
  *:9090/tcp       -> 172.18.0.3:80 (host mode)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
FWM  288 rr                        (VIP 10.0.0.5, mark 0x120, published 8080/tcp)
  -> 10.0.0.11:0                  Masq    1      0          0
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
