package dns

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
)

func TestTableRefcountsSharedVIP(t *testing.T) {
	tab := seedTable()
	scope := Scope{Networks: []string{netA}}
	tab.Delete(netA, "t1")
	if got, _ := tab.LookupHost("web", scope); !slices.Equal(got, []netip.Addr{netip.MustParseAddr("10.0.1.30")}) {
		t.Fatalf("web after one task left: %v", got)
	}
	tab.Delete(netA, "t2")
	if got, known := tab.LookupHost("web", scope); got != nil || known {
		t.Fatalf("web after both tasks left: %v known=%v", got, known)
	}
	if got, known := tab.LookupHost("web.1.abc", scope); got != nil || known {
		t.Fatalf("task name after removal: %v known=%v", got, known)
	}
	// Set replaces: the task moves to another IP.
	tab.Set(Endpoint{Network: netA, ID: "c1", Names: []string{"plain"}, Addr: netip.MustParseAddr("10.0.1.99")})
	if got, _ := tab.LookupHost("plain", scope); !slices.Equal(got, []netip.Addr{netip.MustParseAddr("10.0.1.99")}) {
		t.Fatalf("plain after move: %v", got)
	}
	if names := tab.LookupAddr(netip.MustParseAddr("10.0.1.50"), scope); names != nil {
		t.Fatalf("old PTR kept: %v", names)
	}
}

func TestTableMultiNetworkScope(t *testing.T) {
	tab := NewTable()
	tab.Set(Endpoint{Network: netA, ID: "1", Names: []string{"x"}, Addr: netip.MustParseAddr("10.0.1.5")})
	tab.Set(Endpoint{Network: netB, ID: "1", Names: []string{"x"}, Addr: netip.MustParseAddr("10.0.2.5")})
	got, _ := tab.LookupHost("x", Scope{Networks: []string{netA, netB}})
	if len(got) != 2 {
		t.Fatalf("x on two networks: %v", got)
	}
	// dnsrr: no VIP, the service name lists the tasks.
	tab.Set(Endpoint{Network: netA, ID: "2", Service: "rr", Addr: netip.MustParseAddr("10.0.1.6")})
	tab.Set(Endpoint{Network: netA, ID: "3", Service: "rr", Addr: netip.MustParseAddr("10.0.1.7")})
	if got, _ := tab.LookupHost("rr", Scope{Networks: []string{netA}}); len(got) != 2 {
		t.Fatalf("dnsrr service: %v", got)
	}
}

func TestSwarmShaped(t *testing.T) {
	for name, want := range map[string]bool{
		"web": true, "tasks.web": true, "tasks.web.example.com": false,
		"www.example.com": false, "": false, "web.1.abc": false,
	} {
		if got := swarmShaped(name); got != want {
			t.Errorf("swarmShaped(%q) = %v", name, got)
		}
	}
}

func TestPTRAddr(t *testing.T) {
	for name, want := range map[string]string{
		"31.1.0.10.in-addr.arpa":   "10.0.1.31",
		"1.0.10.in-addr.arpa":      "",
		"256.1.0.10.in-addr.arpa":  "",
		"a.1.0.10.in-addr.arpa":    "",
		"5.31.1.0.10.in-addr.arpa": "",
	} {
		got, ok := ptrAddr(name)
		if (want == "") == ok || (ok && got.String() != want) {
			t.Errorf("ptrAddr(%q) = %v, %v", name, got, ok)
		}
	}
}

func TestResolvConfSkipsLoopback(t *testing.T) {
	got, err := parseResolvConf(strings.NewReader(`# comment
nameserver 127.0.0.53
nameserver 10.255.255.53
search example.com
nameserver ::1
nameserver fe80::1%eth0
nameserver 192.0.2.53
options ndots:0
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.255.255.53:53", "[fe80::1]:53", "192.0.2.53:53"}
	var gs []string
	for _, a := range got {
		gs = append(gs, a.String())
	}
	if !slices.Equal(gs, want) {
		t.Fatalf("got %v, want %v", gs, want)
	}
}

func TestHandlerVerdicts(t *testing.T) {
	h := &handler{records: seedTable(), ttl: 10, canForward: true}
	scope := Scope{Networks: []string{netA}}
	ask := func(name string, qt uint16) []byte {
		b, err := new(mdns.Msg).SetQuestion(name, qt).Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if _, v := h.handle(ask("www.example.com.", mdns.TypeA), scope, true, nil); v != vForward {
		t.Errorf("outside name: verdict %d, want forward", v)
	}
	if _, v := h.handle(ask("99.99.99.99.in-addr.arpa.", mdns.TypePTR), scope, true, nil); v != vForward {
		t.Errorf("outside PTR: verdict %d, want forward", v)
	}
	out, v := h.handle(ask("web.", mdns.TypeA), scope, true, nil)
	var r mdns.Msg
	if v != vReply || r.Unpack(out) != nil || len(r.Answer) != 1 {
		t.Fatalf("web: verdict %d, %v", v, r)
	}
	// Opcode other than QUERY.
	m := new(mdns.Msg).SetQuestion("web.", mdns.TypeA)
	m.Opcode = mdns.OpcodeUpdate
	b, _ := m.Pack()
	out, _ = h.handle(b, scope, true, nil)
	if r.Unpack(out) != nil || r.Rcode != mdns.RcodeNotImplemented {
		t.Errorf("update: %v", r)
	}
	// CHAOS class.
	m = new(mdns.Msg).SetQuestion("version.bind.", mdns.TypeTXT)
	m.Question[0].Qclass = mdns.ClassCHAOS
	b, _ = m.Pack()
	out, _ = h.handle(b, scope, true, nil)
	if r.Unpack(out) != nil || r.Rcode != mdns.RcodeRefused {
		t.Errorf("chaos: %v", r)
	}
}

// FuzzHandle feeds arbitrary bytes to the handler as a query: it must never
// panic, and whatever it answers must be a well-formed response to the same
// ID that fits the transport.
func FuzzHandle(f *testing.F) {
	for _, m := range seedQueries() {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, true)
	}
	f.Add([]byte{0xab, 0xcd, 1, 0, 0, 5, 0, 0, 0, 0, 0, 0}, true)
	h := &handler{records: seedTable(), ttl: 10, canForward: true}
	scope := Scope{Networks: []string{netA, netB}}
	buf := make([]byte, 0, maxUDPAnswer)
	f.Fuzz(func(t *testing.T, q []byte, udp bool) {
		out, v := h.handle(q, scope, udp, buf)
		if v != vReply {
			return
		}
		if len(out) < headerLen || out[0] != q[0] || out[1] != q[1] || out[2]&0x80 == 0 {
			t.Fatalf("reply %x to %x is not a response with the query's ID", out, q)
		}
		if udp && len(out) > maxUDPAnswer {
			t.Fatalf("udp reply of %d bytes", len(out))
		}
		var r mdns.Msg
		if err := r.Unpack(out); err != nil {
			t.Fatalf("reply does not parse: %v (%x)", err, out)
		}
	})
}

func seedQueries() []*mdns.Msg {
	var ms []*mdns.Msg
	for _, q := range []struct {
		name string
		qt   uint16
	}{
		{"web.", mdns.TypeA}, {"tasks.web.", mdns.TypeA}, {"web.", mdns.TypeAAAA},
		{"nosuch.", mdns.TypeA}, {"www.example.com.", mdns.TypeA},
		{"31.1.0.10.in-addr.arpa.", mdns.TypePTR}, {"web.1.abc.", mdns.TypeANY},
	} {
		ms = append(ms, new(mdns.Msg).SetQuestion(q.name, q.qt))
	}
	e := new(mdns.Msg).SetQuestion("tasks.web.", mdns.TypeA)
	e.SetEdns0(1232, true)
	ms = append(ms, e)
	return ms
}

func BenchmarkHandle(b *testing.B) {
	h := &handler{records: seedTable(), ttl: 10}
	scope := Scope{Networks: []string{netA}}
	q, _ := new(mdns.Msg).SetQuestion("web.", mdns.TypeA).Pack()
	buf := make([]byte, 0, maxUDPAnswer)
	b.ReportAllocs()
	for b.Loop() {
		h.handle(q, scope, true, buf)
	}
}

func TestServiceAliasesResolveAsTheServiceOnTheirNetworkOnly(t *testing.T) {
	tab := NewTable()
	vip := netip.MustParseAddr("10.0.1.30")
	for i, addr := range []string{"10.0.1.31", "10.0.1.32"} {
		tab.Set(Endpoint{Network: netA, ID: string(rune('a' + i)), Service: "app_web", ServiceAliases: []string{"web", "WWW"},
			VIP: vip, Addr: netip.MustParseAddr(addr)})
	}
	inA, inB := Scope{Networks: []string{netA}}, Scope{Networks: []string{netB}}
	for _, name := range []string{"app_web", "web", "www"} {
		if got, _ := tab.LookupHost(name, inA); !slices.Equal(got, []netip.Addr{vip}) {
			t.Errorf("%s on its network: %v, want the VIP", name, got)
		}
		if got, known := tab.LookupHost(name, inB); got != nil || !known {
			t.Errorf("%s from another network: %v known=%v, want nothing (NXDOMAIN)", name, got, known)
		}
	}
	if got, _ := tab.LookupHost("tasks.web", inA); len(got) != 2 {
		t.Errorf("tasks.web: %v, want both tasks", got)
	}
	if names := tab.LookupAddr(vip, inA); !slices.Equal(names, []string{"app_web"}) {
		t.Errorf("PTR of the VIP: %v, want the service name only", names)
	}
	tab.Delete(netA, "a")
	tab.Delete(netA, "b")
	if got, known := tab.LookupHost("web", inA); got != nil || known {
		t.Errorf("alias after the tasks left: %v known=%v", got, known)
	}
}
