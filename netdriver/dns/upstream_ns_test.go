package dns

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/minsw/minsw/netdriver/netns"
)

// resolverIn starts a resolver inside the namespace at ns on 127.0.0.1:53
// that answers every A question with answer.
func resolverIn(t *testing.T, ns string, answer string) netip.AddrPort {
	t.Helper()
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg).SetReply(r)
		m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: r.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60}, A: net.ParseIP(answer)})
		w.WriteMsg(m)
	})
	var pc net.PacketConn
	var ln net.Listener
	if err := netns.Do(ns, func() error {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:53"); err != nil {
			return err
		}
		ln, err = net.Listen("tcp", "127.0.0.1:53")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	us := &mdns.Server{PacketConn: pc, Handler: h}
	ts := &mdns.Server{Listener: ln, Handler: h}
	go us.ActivateAndServe()
	go ts.ActivateAndServe()
	t.Cleanup(func() { us.Shutdown(); ts.Shutdown() })
	return netip.MustParseAddrPort("127.0.0.1:53")
}

// A container's own resolvers (--dns) answer its outside names, asked from
// inside its namespace; a container without them keeps the node's. The
// container resolver here listens on the container's loopback, which only a
// query made from inside the container's namespace can reach.
func TestContainerResolversAreAskedFromTheContainer(t *testing.T) {
	withDNS, without := newNetns(t), newNetns(t)
	own := resolverIn(t, withDNS, "198.51.100.7")
	s := newServer(t, seedTable(), []netip.AddrPort{upstream(t)}) // the node's: 192.0.2.1
	ctx := context.Background()
	if err := s.Attach(ctx, withDNS, "c1", Scope{Networks: []string{netA}, Upstreams: []netip.AddrPort{own}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Attach(ctx, without, "c2", Scope{Networks: []string{netA}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, ns, net, q string
		want             []string
	}{
		{"an outside name goes to the container's --dns server", withDNS, "udp", "db.lab.test", []string{"198.51.100.7"}},
		{"and over tcp", withDNS, "tcp", "db.lab.test", []string{"198.51.100.7"}},
		{"swarm names are still the swarm's", withDNS, "udp", "web", []string{"10.0.1.30"}},
		{"a container without --dns uses the node's resolvers", without, "udp", "db.lab.test", []string{"192.0.2.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := query(t, tc.ns, tc.net, tc.q, mdns.TypeA)
			if got := aRecords(r); r.Rcode != mdns.RcodeSuccess || !slices.Equal(got, tc.want) {
				t.Fatalf("%s: rcode %s answers %v, want %v", tc.q, mdns.RcodeToString[r.Rcode], got, tc.want)
			}
		})
	}

	// The container's servers replace the node's (as docker's): when none
	// answers, the client hears SERVFAIL, not the node's answer.
	dead := netip.MustParseAddrPort("127.0.0.1:1")
	if err := s.SetScope("c1", Scope{Networks: []string{netA}, Upstreams: []netip.AddrPort{dead}}); err != nil {
		t.Fatal(err)
	}
	if r := query(t, withDNS, "udp", "db.lab.test", mdns.TypeA); r.Rcode != mdns.RcodeServerFailure {
		t.Errorf("dead --dns server: rcode %s answers %v, want SERVFAIL", mdns.RcodeToString[r.Rcode], aRecords(r))
	}

	// --dns 127.0.0.11 names the server itself: dropped, so no query loops;
	// the node's resolvers answer instead.
	if err := s.SetScope("c1", Scope{Networks: []string{netA}, Upstreams: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.11:53")}}); err != nil {
		t.Fatal(err)
	}
	r := query(t, withDNS, "udp", "db.lab.test", mdns.TypeA)
	if got := aRecords(r); !slices.Equal(got, []string{"192.0.2.1"}) {
		t.Errorf("--dns 127.0.0.11: %s %v, want the node's 192.0.2.1", mdns.RcodeToString[r.Rcode], got)
	}
}
