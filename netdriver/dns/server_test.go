package dns

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

const (
	netA = "neta0000000000000000000000"
	netB = "netb0000000000000000000000"
)

// seedTable is the seed's mynet (web with two tasks, client) plus a second
// network holding a db service that mynet must not see.
func seedTable() *Table {
	t := NewTable()
	vip := netip.MustParseAddr("10.0.1.30")
	t.Set(Endpoint{Network: netA, ID: "t1", Names: []string{"web.1.abc"}, Service: "web", VIP: vip, Addr: netip.MustParseAddr("10.0.1.31")})
	t.Set(Endpoint{Network: netA, ID: "t2", Names: []string{"web.2.def"}, Service: "web", VIP: vip, Addr: netip.MustParseAddr("10.0.1.32")})
	t.Set(Endpoint{Network: netA, ID: "t3", Names: []string{"client.1.ghi"}, Service: "client", VIP: netip.MustParseAddr("10.0.1.40"), Addr: netip.MustParseAddr("10.0.1.41")})
	t.Set(Endpoint{Network: netA, ID: "c1", Names: []string{"plain"}, Addr: netip.MustParseAddr("10.0.1.50")})
	t.Set(Endpoint{Network: netB, ID: "t4", Names: []string{"db.1.jkl"}, Service: "db", VIP: netip.MustParseAddr("10.0.2.10"), Addr: netip.MustParseAddr("10.0.2.11")})
	return t
}

// upstream starts a resolver on the test's own loopback that answers every A
// question with 192.0.2.1, standing in for the node's resolvers.
func upstream(t *testing.T) netip.AddrPort {
	t.Helper()
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg).SetReply(r)
		if r.Question[0].Name == "big.example.test." {
			for i := range 100 {
				m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: r.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, byte(i))})
			}
			if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
				m.Truncate(512)
			}
		} else {
			m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: r.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)})
		}
		w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	us := &mdns.Server{PacketConn: pc, Handler: h}
	ts := &mdns.Server{Listener: ln, Handler: h}
	go us.ActivateAndServe()
	go ts.ActivateAndServe()
	t.Cleanup(func() { us.Shutdown(); ts.Shutdown() })
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
}

func newServer(t *testing.T, recs Resolver, ups []netip.AddrPort) *Server {
	t.Helper()
	cfg := DefaultConfig(recs)
	cfg.Upstreams = ups
	if cfg.Upstreams == nil {
		cfg.Upstreams = []netip.AddrPort{}
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// query asks name (type qt) from inside netns over network ("udp"/"tcp").
func query(t *testing.T, ns, network, name string, qt uint16) *mdns.Msg {
	t.Helper()
	c := dialIn(t, ns, network, "127.0.0.11:53")
	m := new(mdns.Msg).SetQuestion(mdns.Fqdn(name), qt)
	cl := &mdns.Client{Net: network, Timeout: 3 * time.Second}
	r, _, err := cl.ExchangeWithConn(m, &mdns.Conn{Conn: c})
	if err != nil {
		t.Fatalf("%s %s %s: %v", network, name, mdns.TypeToString[qt], err)
	}
	return r
}

func aRecords(r *mdns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*mdns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return out
}

func TestSeedNamesFromInsideContainers(t *testing.T) {
	nsA, nsB := newNetns(t), newNetns(t)
	s := newServer(t, seedTable(), []netip.AddrPort{upstream(t)})
	ctx := context.Background()
	if err := s.Attach(ctx, nsA, "client", Scope{Networks: []string{netA}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Attach(ctx, nsB, "dbclient", Scope{Networks: []string{netB}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		ns      string
		net     string
		q       string
		qt      uint16
		rcode   int
		answers []string
	}{
		{"ping web gives the VIP", nsA, "udp", "web", mdns.TypeA, mdns.RcodeSuccess, []string{"10.0.1.30"}},
		{"names are case-insensitive", nsA, "udp", "WEB.", mdns.TypeA, mdns.RcodeSuccess, []string{"10.0.1.30"}},
		{"tasks.web gives both tasks", nsA, "udp", "tasks.web", mdns.TypeA, mdns.RcodeSuccess, []string{"10.0.1.31", "10.0.1.32"}},
		{"task name gives its IP", nsA, "udp", "web.2.def", mdns.TypeA, mdns.RcodeSuccess, []string{"10.0.1.32"}},
		{"container name gives its IP", nsA, "udp", "plain", mdns.TypeA, mdns.RcodeSuccess, []string{"10.0.1.50"}},
		{"AAAA for a swarm name is empty, not NXDOMAIN", nsA, "udp", "web", mdns.TypeAAAA, mdns.RcodeSuccess, nil},
		{"unknown single name is NXDOMAIN", nsA, "udp", "nosuch", mdns.TypeA, mdns.RcodeNameError, nil},
		{"unknown tasks. name is NXDOMAIN", nsA, "udp", "tasks.nosuch", mdns.TypeA, mdns.RcodeNameError, nil},
		{"db is not on mynet", nsA, "udp", "db", mdns.TypeA, mdns.RcodeNameError, nil},
		{"db task is not on mynet", nsA, "udp", "db.1.jkl", mdns.TypeA, mdns.RcodeNameError, nil},
		{"web is not on the db network", nsB, "udp", "web", mdns.TypeA, mdns.RcodeNameError, nil},
		{"db from its own network", nsB, "udp", "db", mdns.TypeA, mdns.RcodeSuccess, []string{"10.0.2.10"}},
		{"tcp works too", nsA, "tcp", "tasks.web", mdns.TypeA, mdns.RcodeSuccess, []string{"10.0.1.31", "10.0.1.32"}},
		{"outside names go upstream", nsA, "udp", "www.example.test", mdns.TypeA, mdns.RcodeSuccess, []string{"192.0.2.1"}},
		{"outside names go upstream over tcp", nsB, "tcp", "www.example.test", mdns.TypeA, mdns.RcodeSuccess, []string{"192.0.2.1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := query(t, tc.ns, tc.net, tc.q, tc.qt)
			if r.Rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s", mdns.RcodeToString[r.Rcode], mdns.RcodeToString[tc.rcode])
			}
			if got := aRecords(r); !slices.Equal(got, tc.answers) {
				t.Fatalf("answers %v, want %v", got, tc.answers)
			}
			for _, rr := range r.Answer {
				if rr.Header().Ttl != 10 && tc.rcode == mdns.RcodeSuccess && tc.q != "www.example.test" {
					t.Errorf("ttl %d, want 10", rr.Header().Ttl)
				}
			}
		})
	}
	t.Run("PTR of a task IP gives the task name", func(t *testing.T) {
		r := query(t, nsA, "udp", "31.1.0.10.in-addr.arpa", mdns.TypePTR)
		if len(r.Answer) != 1 || r.Answer[0].(*mdns.PTR).Ptr != "web.1.abc." {
			t.Fatalf("got %v", r.Answer)
		}
	})
	t.Run("PTR of the VIP gives the service", func(t *testing.T) {
		r := query(t, nsA, "udp", "30.1.0.10.in-addr.arpa", mdns.TypePTR)
		if len(r.Answer) != 1 || r.Answer[0].(*mdns.PTR).Ptr != "web." {
			t.Fatalf("got %v", r.Answer)
		}
	})
	st := s.Stats()
	if st.Forwarded < 2 || st.Answered < 10 {
		t.Errorf("stats %+v", st)
	}
}

// A service with many tasks does not fit a plain 512-byte UDP answer: the
// client gets TC and retries over TCP, both for swarm and upstream names.
func TestTruncationAndTCPFallback(t *testing.T) {
	ns := newNetns(t)
	tab := NewTable()
	for i := range 100 {
		tab.Set(Endpoint{Network: netA, ID: strconv.Itoa(i), Service: "big", VIP: netip.MustParseAddr("10.0.1.2"),
			Addr: netip.AddrFrom4([4]byte{10, 0, 1, byte(10 + i)})})
	}
	s := newServer(t, tab, []netip.AddrPort{upstream(t)})
	if err := s.Attach(context.Background(), ns, "c", Scope{Networks: []string{netA}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tasks.big", "big.example.test"} {
		r := query(t, ns, "udp", name, mdns.TypeA)
		if !r.Truncated {
			t.Fatalf("%s over udp: not truncated (%d answers)", name, len(r.Answer))
		}
		r = query(t, ns, "tcp", name, mdns.TypeA)
		if r.Truncated || len(r.Answer) != 100 {
			t.Fatalf("%s over tcp: truncated=%v, %d answers, want 100", name, r.Truncated, len(r.Answer))
		}
	}
	// An EDNS client with room for it gets all 100 over UDP.
	c := dialIn(t, ns, "udp", "127.0.0.11:53")
	m := new(mdns.Msg).SetQuestion("tasks.big.", mdns.TypeA)
	m.SetEdns0(4096, false)
	r, _, err := (&mdns.Client{Timeout: 3 * time.Second, UDPSize: 4096}).ExchangeWithConn(m, &mdns.Conn{Conn: c, UDPSize: 4096})
	if err != nil || r.Truncated || len(r.Answer) != 100 {
		t.Fatalf("edns: err %v truncated %v answers %d", err, r != nil && r.Truncated, len(r.Answer))
	}
}

func TestBadQueriesAreDroppedOrFormerr(t *testing.T) {
	ns := newNetns(t)
	s := newServer(t, seedTable(), nil)
	if err := s.Attach(context.Background(), ns, "c", Scope{Networks: []string{netA}}); err != nil {
		t.Fatal(err)
	}
	c := dialIn(t, ns, "udp", "127.0.0.11:53")
	send := func(b []byte) []byte {
		t.Helper()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		buf := make([]byte, 4096)
		n, err := c.Read(buf)
		if err != nil {
			return nil
		}
		return buf[:n]
	}
	if r := send([]byte{1, 2, 3}); r != nil {
		t.Errorf("3-byte query answered: %x", r)
	}
	if r := send(make([]byte, 8000)); r != nil {
		t.Errorf("oversized query answered: %x", r)
	}
	// A header claiming five questions, with none present.
	r := send([]byte{0xab, 0xcd, 0x01, 0x00, 0, 5, 0, 0, 0, 0, 0, 0})
	if len(r) < 12 || r[0] != 0xab || r[1] != 0xcd || r[3]&0xF != mdns.RcodeFormatError || r[2]&0x80 == 0 {
		t.Errorf("truncated question: got %x, want FORMERR", r)
	}
	// A response is never answered (no loops between resolvers).
	resp := new(mdns.Msg).SetQuestion("web.", mdns.TypeA)
	resp.Response = true
	b, _ := resp.Pack()
	if r := send(b); r != nil {
		t.Errorf("response answered: %x", r)
	}
	// An outside name with no upstream configured: SERVFAIL at once.
	if r := query(t, ns, "udp", "www.example.test", mdns.TypeA); r.Rcode != mdns.RcodeServerFailure {
		t.Errorf("no upstream: rcode %s", mdns.RcodeToString[r.Rcode])
	}
	// TCP with a length prefix out of bounds: the connection is closed.
	tc := dialIn(t, ns, "tcp", "127.0.0.11:53")
	tc.Write([]byte{0xff, 0xff})
	tc.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := tc.Read(make([]byte, 10)); err == nil {
		t.Errorf("tcp oversized: read %d bytes, want close", n)
	}
	// Still serving.
	if r := query(t, ns, "udp", "web", mdns.TypeA); !slices.Equal(aRecords(r), []string{"10.0.1.30"}) {
		t.Fatalf("after bad input: %v", r)
	}
	if s.Stats().Dropped < 3 {
		t.Errorf("dropped %d, want >= 3", s.Stats().Dropped)
	}
}

func TestAttachIsIdempotentAndDetachStopsServing(t *testing.T) {
	ns := newNetns(t)
	tab := seedTable()
	s := newServer(t, tab, nil)
	ctx := context.Background()
	if err := s.Attach(ctx, ns, "c", Scope{Networks: []string{netB}}); err != nil {
		t.Fatal(err)
	}
	if r := query(t, ns, "udp", "web", mdns.TypeA); r.Rcode != mdns.RcodeNameError {
		t.Fatalf("web before joining mynet: %s", mdns.RcodeToString[r.Rcode])
	}
	// The container joins mynet as well: attach again with the wider scope.
	if err := s.Attach(ctx, ns, "c", Scope{Networks: []string{netB, netA}}); err != nil {
		t.Fatal(err)
	}
	if r := query(t, ns, "udp", "web", mdns.TypeA); !slices.Equal(aRecords(r), []string{"10.0.1.30"}) {
		t.Fatalf("web after joining mynet: %v", r)
	}
	// Records change under a running server: a task goes away.
	tab.Delete(netA, "t1")
	if r := query(t, ns, "udp", "tasks.web", mdns.TypeA); !slices.Equal(aRecords(r), []string{"10.0.1.32"}) {
		t.Fatalf("tasks.web after removal: %v", aRecords(r))
	}
	if err := s.Attach(ctx, newNetns(t), "c", Scope{}); err == nil {
		t.Fatal("attach of the same container in another netns succeeded")
	}
	if err := s.Detach("c"); err != nil {
		t.Fatal(err)
	}
	if got := s.Attached(); len(got) != 0 {
		t.Fatalf("attached after detach: %v", got)
	}
	c := dialIn(t, ns, "udp", "127.0.0.11:53")
	m, _ := new(mdns.Msg).SetQuestion("web.", mdns.TypeA).Pack()
	c.Write(m)
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := c.Read(make([]byte, 512)); err == nil {
		t.Fatal("answered after detach")
	}
	// The port is free again: attach anew.
	if err := s.Attach(ctx, ns, "c", Scope{Networks: []string{netA}}); err != nil {
		t.Fatalf("re-attach: %v", err)
	}
}

func TestAttachFailsClearlyWithLoDown(t *testing.T) {
	s := newServer(t, NewTable(), nil)
	err := s.Attach(context.Background(), "/nonexistent/netns", "c", Scope{})
	if err == nil {
		t.Fatal("attach to a missing netns succeeded")
	}
	t.Log(err)
}
