package nft_test

import (
	"fmt"
	"net/netip"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/minsw/minsw/netdriver/internal/labtest"
	"github.com/minsw/minsw/netdriver/lb"
	"github.com/minsw/minsw/netdriver/lb/nft"
)

var lbAddr = netip.MustParseAddr("10.0.1.37")

func newNs(t testing.TB) string {
	t.Helper()
	lab := labtest.New(t.TempDir())
	t.Cleanup(func() { lab.Close() })
	p, err := lab.Netns("lbns")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newBackend(t testing.TB, ns string) *nft.Backend {
	t.Helper()
	b, err := nft.New(ns, lbAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// svcs makes n services with k backends each: VIPs 10.x.y.z from 10.1.0.0
// up, marks from 0x100 up, backends in 10.200.0.0/16.
func svcs(n, k int) []lb.Service {
	out := make([]lb.Service, n)
	for i := range out {
		v := 0x0a010000 + uint32(i)
		out[i] = lb.Service{VIP: netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), Mark: 0x100 + uint32(i)}
		for j := 0; j < k; j++ {
			w := 0x0ac80000 + uint32(i*k+j)%65000 + 1
			out[i].Backends = append(out[i].Backends, netip.AddrFrom4([4]byte{byte(w >> 24), byte(w >> 16), byte(w >> 8), byte(w)}))
		}
	}
	return out
}

func nftList(t *testing.T, ns string) string {
	t.Helper()
	out, err := exec.Command("nsenter", "--net="+ns, "nft", "list", "table", "ip", "minsw").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list: %v\n%s", err, out)
	}
	return string(out)
}

func TestTwoServicesAsTheSeedShowsThem(t *testing.T) {
	ns := newNs(t)
	b := newBackend(t, ns)
	web := lb.Service{VIP: ip("10.0.1.30"), Mark: 0x106, Backends: []netip.Addr{ip("10.0.1.31"), ip("10.0.1.32")}}
	client := lb.Service{VIP: ip("10.0.1.35"), Mark: 0x107, Backends: []netip.Addr{ip("10.0.1.36")}}
	if err := b.Apply([]lb.Service{web, client}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := b.Services()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []lb.Service{web, client}) {
		t.Fatalf("services = %+v", got)
	}
	out := nftList(t, ns)
	for _, want := range []string{
		"0x00000106 : jump svc_0x106", "0x00000106 . 0x00000001 : 10.0.1.32", "numgen inc mod 2", "snat to 10.0.1.37",
		"meta mark set ip daddr map @vip_mark", "meta mark vmap @svc",
		// The kernel's own listing shows the marks lb inspect shows.
		"elements = { 10.0.1.30 : 0x00000106, 10.0.1.35 : 0x00000107 }",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("nft list lacks %q:\n%s", want, out)
		}
	}

	// A backend goes, one comes: only that service changes.
	web.Backends = []netip.Addr{ip("10.0.1.32")}
	if err := b.Apply([]lb.Service{web}, nil); err != nil {
		t.Fatal(err)
	}
	client.Backends = nil
	web.Backends = append(web.Backends, ip("10.0.1.40"), ip("10.0.1.41"))
	if err := b.Apply([]lb.Service{web, client}, nil); err != nil {
		t.Fatal(err)
	}
	got, _ = b.Services()
	if !reflect.DeepEqual(got, []lb.Service{web, {VIP: client.VIP, Mark: client.Mark}}) {
		t.Fatalf("after change: %+v", got)
	}
	if out := nftList(t, ns); !strings.Contains(out, "numgen inc mod 3") {
		t.Errorf("web rule not rewritten:\n%s", out)
	}

	// A restarted daemon adopts what is there.
	b2, err := nft.New(ns, lbAddr)
	if err != nil {
		t.Fatal(err)
	}
	got2, _ := b2.Services()
	if !reflect.DeepEqual(got, got2) {
		t.Fatalf("adopted %+v, want %+v", got2, got)
	}
	// A VIP moves from a deleted service to a new one in one call.
	moved := lb.Service{VIP: web.VIP, Mark: 0x200, Backends: []netip.Addr{ip("10.0.1.50")}}
	if err := b2.Apply([]lb.Service{moved}, []uint32{0x106}); err != nil {
		t.Fatal(err)
	}
	got2, _ = b2.Services()
	if len(got2) != 2 || got2[1].Mark != 0x200 || got2[1].VIP != web.VIP {
		t.Fatalf("after move: %+v", got2)
	}
	if out := nftList(t, ns); strings.Contains(out, "svc_0x106") {
		t.Errorf("chain of deleted service left:\n%s", out)
	}
	if err := b2.Close(); err != nil {
		t.Fatal(err)
	}
	rs, _ := exec.Command("nsenter", "--net="+ns, "nft", "list", "ruleset").CombinedOutput()
	if strings.TrimSpace(string(rs)) != "" {
		t.Fatalf("ruleset after Close:\n%s", rs)
	}
}

// TestTenThousandServicesProgrammed: 10,000 services of 10 backends load
// from empty in one Apply, and one backend's removal touches only its
// service. How long each takes is for the benchmarks below
// (BenchmarkProgram10000x10FromEmpty, BenchmarkOneBackendWith10000Services),
// never a timed assertion here.
func TestTenThousandServicesProgrammed(t *testing.T) {
	ns := newNs(t)
	b := newBackend(t, ns)
	all := svcs(10000, 10)
	start := time.Now()
	if err := b.Apply(all, nil); err != nil {
		t.Fatal(err)
	}
	load := time.Since(start)
	s := all[5000]
	s.Backends = s.Backends[:9]
	start = time.Now()
	if err := b.Apply([]lb.Service{s}, nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("10,000 x 10 from empty: %v; remove one backend: %v", load, time.Since(start))
	got, err := b.Services()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10000 || len(got[5000].Backends) != 9 || len(got[4999].Backends) != 10 {
		t.Fatalf("read back %d services", len(got))
	}
}

func benchLoad(bm *testing.B, n int) {
	all := svcs(n, 10)
	for bm.Loop() {
		bm.StopTimer()
		ns := newNs(bm)
		b, err := nft.New(ns, lbAddr)
		if err != nil {
			bm.Fatal(err)
		}
		bm.StartTimer()
		if err := b.Apply(all, nil); err != nil {
			bm.Fatal(err)
		}
		bm.StopTimer()
		b.Close()
		bm.StartTimer()
	}
}

func BenchmarkProgram1000x10FromEmpty(bm *testing.B)  { benchLoad(bm, 1000) }
func BenchmarkProgram10000x10FromEmpty(bm *testing.B) { benchLoad(bm, 10000) }

// One backend added then removed again, with 10,000 services present; the
// figure is per Apply.
func BenchmarkOneBackendWith10000Services(bm *testing.B) {
	ns := newNs(bm)
	b := newBackend(bm, ns)
	all := svcs(10000, 10)
	if err := b.Apply(all, nil); err != nil {
		bm.Fatal(err)
	}
	s := all[4321]
	less := s
	less.Backends = s.Backends[:9]
	i := 0
	for bm.Loop() {
		x := s
		if i%2 == 0 {
			x = less
		}
		i++
		if err := b.Apply([]lb.Service{x}, nil); err != nil {
			bm.Fatal(fmt.Errorf("apply %d: %w", i, err))
		}
	}
}
