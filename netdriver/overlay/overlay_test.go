package overlay_test

import (
	"context"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/minsw/minsw/netdriver/internal/labtest"
	"github.com/minsw/minsw/netdriver/netns"
	"github.com/minsw/minsw/netdriver/overlay"
)

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func mustAddr(s string) netip.Addr     { return netip.MustParseAddr(s) }

// Two nodes on an underlay veth; one container on each reaches the other
// across vxlan0 once the peers are programmed.
func TestTwoNodesReachEachOtherOverVXLAN(t *testing.T) {
	dir := t.TempDir()
	lab := labtest.New(dir)
	t.Cleanup(func() { lab.Close() })
	n1, err := lab.Netns("ovn1")
	if err != nil {
		t.Fatal(err)
	}
	n2, err := lab.Netns("ovn2")
	if err != nil {
		t.Fatal(err)
	}
	if err := labtest.Wire(n1, "ul0", mustPrefix("192.168.77.1/24"), n2, "ul0", mustPrefix("192.168.77.2/24")); err != nil {
		t.Fatal(err)
	}
	c1, _ := lab.Netns("c1")
	c2, _ := lab.Netns("c2")

	netID := "q8w7e6r5t4y3u2i1o0p9a8s7d"
	mk := func(node string, vtep, lb string) *overlay.Network {
		t.Helper()
		h, err := netns.Open(node)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		execRoot := filepath.Join(dir, filepath.Base(node), "netns")
		cfg := overlay.Config{ID: netID, VNI: 4097, Gateway: mustPrefix("10.0.1.1/24"), VTEP: mustAddr(vtep), LBAddr: mustPrefix(lb)}
		n, err := overlay.Ensure(execRoot, h, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := n.Remove(); err != nil {
				t.Error(err)
			}
			netns.Release(execRoot)
		})
		// Idempotent: a second Ensure adopts what is there.
		if _, err := overlay.Ensure(execRoot, h, cfg); err != nil {
			t.Fatalf("re-ensure: %v", err)
		}
		return n
	}
	net1 := mk(n1, "192.168.77.1", "10.0.1.37/32")
	net2 := mk(n2, "192.168.77.2", "10.0.1.38/32")

	if err := net1.Attach(overlay.Endpoint{ContainerID: "c1c1c1c1c1c1c1", NetnsPath: c1, Addr: mustPrefix("10.0.1.31/24")}); err != nil {
		t.Fatal(err)
	}
	if err := net2.Attach(overlay.Endpoint{ContainerID: "c2c2c2c2c2c2c2", NetnsPath: c2, Addr: mustPrefix("10.0.1.32/24")}); err != nil {
		t.Fatal(err)
	}
	p := func(ip, vtep string) overlay.Peer {
		a := mustAddr(ip)
		return overlay.Peer{Addr: a, MAC: overlay.MACFromIP(a), VTEP: mustAddr(vtep)}
	}
	if err := net1.SetPeers([]overlay.Peer{p("10.0.1.32", "192.168.77.2"), p("10.0.1.38", "192.168.77.2"), p("10.0.1.99", "192.168.77.2")}); err != nil {
		t.Fatal(err)
	}
	// Reconcile to the exact set: 10.0.1.99 goes.
	if err := net1.SetPeers([]overlay.Peer{p("10.0.1.32", "192.168.77.2"), p("10.0.1.38", "192.168.77.2")}); err != nil {
		t.Fatal(err)
	}
	if err := net2.SetPeers([]overlay.Peer{p("10.0.1.31", "192.168.77.1"), p("10.0.1.37", "192.168.77.1")}); err != nil {
		t.Fatal(err)
	}
	peers, err := net1.Peers()
	if err != nil {
		t.Fatal(err)
	}
	if len(peers) != 2 || peers[0].Addr != mustAddr("10.0.1.32") || peers[0].VTEP != mustAddr("192.168.77.2") ||
		peers[0].MAC.String() != "02:42:0a:00:01:20" {
		t.Fatalf("peers = %+v", peers)
	}
	// The kernel's own tools agree.
	out, err := exec.Command("nsenter", "--net="+net1.SandboxPath(), "bridge", "fdb", "show", "dev", "vxlan0").CombinedOutput()
	if err != nil {
		t.Fatalf("bridge fdb: %v %s", err, out)
	}
	if !regexp.MustCompile(`02:42:0a:00:01:20 dst 192.168.77.2 .*self permanent`).Match(out) ||
		strings.Contains(string(out), "02:42:0a:00:01:63") {
		t.Fatalf("fdb:\n%s", out)
	}
	out, _ = exec.Command("nsenter", "--net="+net1.SandboxPath(), "ip", "-d", "link", "show", "vxlan0").CombinedOutput()
	for _, want := range []string{"vxlan id 4097", "local 192.168.77.1", "dstport 4789", "nolearning", "proxy", "master br0", "mtu 1450"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("vxlan0 lacks %q:\n%s", want, out)
		}
	}
	out, _ = exec.Command("nsenter", "--net="+net1.LBPath(), "ip", "link", "show", "eth0").CombinedOutput()
	if !strings.Contains(string(out), "02:42:0a:00:01:25") {
		t.Errorf("lb eth0 MAC:\n%s", out)
	}

	srv, err := labtest.StartWhoami(c2, "c2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	body, err := labtest.Get(context.Background(), labtest.Client(c1, false), "http://10.0.1.32/")
	if err != nil {
		t.Fatalf("c1 -> c2 over vxlan: %v", err)
	}
	if got := labtest.Field(body, "RemoteAddr"); !strings.HasPrefix(got, "10.0.1.31:") {
		t.Fatalf("RemoteAddr = %q\n%s", got, body)
	}

	if err := net1.SetVIPs([]netip.Addr{mustAddr("10.0.1.30"), mustAddr("10.0.1.35")}); err != nil {
		t.Fatal(err)
	}
	vips, _ := net1.VIPs()
	if len(vips) != 2 {
		t.Fatalf("vips = %v", vips)
	}
	if err := net1.Detach("c1c1c1c1c1c1c1"); err != nil {
		t.Fatal(err)
	}
	if eps, _ := net1.Endpoints(); len(eps) != 0 {
		t.Fatalf("endpoints after detach: %v", eps)
	}
}
