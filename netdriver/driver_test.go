package netdriver_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minsw/minsw/netdriver"
	"github.com/minsw/minsw/netdriver/internal/labtest"
	"github.com/minsw/minsw/netdriver/lb"
	"github.com/minsw/minsw/netdriver/netns"
)

func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }
func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addrs(s ...string) (out []netip.Addr) {
	for _, x := range s {
		out = append(out, addr(x))
	}
	return out
}

// node is one lab node: a namespace on the underlay and its Driver.
type node struct {
	ns   string
	vtep netip.Addr
	d    *netdriver.Driver
	root string
}

// do runs fn inside the node's namespace, as a daemon living there would.
func (n *node) do(t testing.TB, fn func() error) {
	t.Helper()
	if err := netns.Do(n.ns, fn); err != nil {
		t.Fatal(err)
	}
}

type lab struct {
	*labtest.Lab
	dir    string
	n1, n2 *node
}

// newLab builds two node namespaces on an underlay veth (192.168.77.0/24)
// with a Driver each, created from inside the node as a daemon would be.
func newLab(t testing.TB) *lab {
	t.Helper()
	dir := t.TempDir()
	l := &lab{Lab: labtest.New(dir), dir: dir}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("lab teardown: %v", err)
		}
	})
	n1, err := l.Netns("node1")
	if err != nil {
		t.Fatal(err)
	}
	n2, err := l.Netns("node2")
	if err != nil {
		t.Fatal(err)
	}
	if err := labtest.Wire(n1, "ul0", pfx("192.168.77.1/24"), n2, "ul0", pfx("192.168.77.2/24")); err != nil {
		t.Fatal(err)
	}
	l.n1 = l.newNode(t, n1, "192.168.77.1")
	l.n2 = l.newNode(t, n2, "192.168.77.2")
	return l
}

func (l *lab) newNode(t testing.TB, ns, vtep string) *node {
	t.Helper()
	n := &node{ns: ns, vtep: addr(vtep), root: filepath.Join(l.dir, filepath.Base(ns)+"-root")}
	n.do(t, func() error {
		cfg := netdriver.DefaultConfig()
		cfg.ExecRoot = n.root
		cfg.VTEP = n.vtep
		var err error
		n.d, err = netdriver.New(context.Background(), cfg)
		return err
	})
	t.Cleanup(func() {
		if err := n.d.Close(); err != nil {
			t.Errorf("driver close: %v", err)
		}
	})
	return n
}

// container makes a plain namespace named like a container's netns file.
func (l *lab) container(t *testing.T, n *node, netID, cid, ip string, serve bool) string {
	t.Helper()
	p, err := l.Netns(netns.ContainerName(cid))
	if err != nil {
		t.Fatal(err)
	}
	n.do(t, func() error {
		return n.d.Attach(context.Background(), netdriver.Endpoint{NetworkID: netID, ContainerID: cid, NetnsPath: p, Addr: pfx(ip + "/24")})
	})
	if serve {
		s, err := labtest.StartWhoami(p, netns.ContainerName(cid))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
	}
	return p
}

const mynetID = "lpirdge00y3jq8w7e6r5t4y3u"

var mynet1 = netdriver.Network{ID: mynetID, Name: "mynet", Subnet: pfx("10.0.1.0/24"), Gateway: addr("10.0.1.1"), VNI: 4097, LBAddr: pfx("10.0.1.37/24")}

func mynetOn2() netdriver.Network {
	n := mynet1
	n.LBAddr = pfx("10.0.1.38/24")
	return n
}

// curl fetches the VIP count times with Connection: close and returns the
// hostnames and RemoteAddr IPs it saw, in order.
func curl(t *testing.T, from, url string, count int) (hosts, remotes []string) {
	t.Helper()
	c := labtest.Client(from, false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 0; i < count; i++ {
		body, err := labtest.Get(ctx, c, url)
		if err != nil {
			t.Fatalf("request %d to %s: %v", i, url, err)
		}
		hosts = append(hosts, labtest.Field(body, "Hostname"))
		r := labtest.Field(body, "RemoteAddr")
		if i := strings.LastIndexByte(r, ':'); i > 0 {
			r = r[:i]
		}
		remotes = append(remotes, r)
	}
	return hosts, remotes
}

func unreachable(t *testing.T, from, hostport string) {
	t.Helper()
	dial := labtest.Dialer(from, 700*time.Millisecond)
	if c, err := dial(context.Background(), "tcp4", hostport); err == nil {
		c.Close()
		t.Fatalf("%s reached %s across networks", filepath.Base(from), hostport)
	}
}

// The seed's story: web has two replicas on two nodes, a client on the
// first node curls the VIP; answers alternate and RemoteAddr is the client
// node's lb endpoint.
func TestSeedRoundRobinAcrossTwoNodes(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	l.n1.do(t, func() error { return l.n1.d.EnsureNetwork(ctx, mynet1) })
	l.n2.do(t, func() error { return l.n2.d.EnsureNetwork(ctx, mynetOn2()) })

	l.container(t, l.n1, mynetID, "6039865a1e5d0000aaaa", "10.0.1.31", true)
	l.container(t, l.n2, mynetID, "c3b3e99b9bb10000bbbb", "10.0.1.32", true)
	client := l.container(t, l.n1, mynetID, "36dce35d56e80000cccc", "10.0.1.36", false)
	client2 := l.container(t, l.n2, mynetID, "47ed046e67f90000dddd", "10.0.1.46", false)

	// Gossip would hand each node this table; each skips its own VTEP.
	peers := []netdriver.Peer{
		{Addr: addr("10.0.1.31"), VTEP: l.n1.vtep}, {Addr: addr("10.0.1.36"), VTEP: l.n1.vtep}, {Addr: addr("10.0.1.37"), VTEP: l.n1.vtep},
		{Addr: addr("10.0.1.32"), VTEP: l.n2.vtep}, {Addr: addr("10.0.1.46"), VTEP: l.n2.vtep}, {Addr: addr("10.0.1.38"), VTEP: l.n2.vtep},
	}
	web := lb.Service{VIP: addr("10.0.1.30"), Mark: 0x106, Backends: addrs("10.0.1.31", "10.0.1.32")}
	clientSvc := lb.Service{VIP: addr("10.0.1.35"), Mark: 0x107, Backends: addrs("10.0.1.36")}
	for _, n := range []*node{l.n1, l.n2} {
		n.do(t, func() error {
			if err := n.d.SetPeers(ctx, mynetID, peers); err != nil {
				return err
			}
			return n.d.SetServices(ctx, mynetID, []lb.Service{web, clientSvc})
		})
	}

	// Peer programming: remote ones only, fdb to the other node's VTEP.
	infos, err := l.n1.d.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || len(infos[0].Peers) != 3 || infos[0].Peers[0].Addr != addr("10.0.1.32") ||
		infos[0].Peers[0].VTEP != l.n2.vtep || infos[0].Peers[0].MAC.String() != "02:42:0a:00:01:20" {
		t.Fatalf("node1 peers: %+v", infos)
	}
	out, err := exec.Command("nsenter", "--net="+infos[0].Sandbox, "bridge", "fdb", "show", "dev", "vxlan0").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("02:42:0a:00:01:26 dst 192.168.77.2")) {
		t.Fatalf("fdb on node1: %v\n%s", err, out)
	}
	out, err = exec.Command("nsenter", "--net="+infos[0].Sandbox, "ip", "neigh", "show", "dev", "vxlan0").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("10.0.1.32 lladdr 02:42:0a:00:01:20 PERMANENT")) {
		t.Fatalf("neigh on node1: %v\n%s", err, out)
	}
	if infos[0].Backend != "nftables" || !reflect.DeepEqual(infos[0].Services, []lb.Service{web, clientSvc}) {
		t.Fatalf("inspect: %+v", infos[0])
	}
	if !reflect.DeepEqual(infos[0].VIPs, addrs("10.0.1.30", "10.0.1.35")) {
		t.Fatalf("VIPs on lb eth0: %v", infos[0].VIPs)
	}
	// The namespace files read as the seed's.
	names, _ := os.ReadDir(filepath.Join(l.n1.root, "netns"))
	var got []string
	for _, e := range names {
		got = append(got, e.Name())
	}
	if !reflect.DeepEqual(got, []string{"1-lpirdge00y", "lb_lpirdge00"}) {
		t.Errorf("exec-root netns = %v", got)
	}

	hosts, remotes := curl(t, client, "http://10.0.1.30/", 6)
	for i := range hosts {
		if hosts[i] == hosts[(i+1)%len(hosts)] || remotes[i] != "10.0.1.37" {
			t.Fatalf("node1 client: hosts %v remotes %v; want alternation and RemoteAddr 10.0.1.37", hosts, remotes)
		}
	}
	if !slicesContain(hosts, "6039865a1e5d") || !slicesContain(hosts, "c3b3e99b9bb1") {
		t.Fatalf("hosts %v", hosts)
	}
	_, remotes = curl(t, client2, "http://10.0.1.30/", 4)
	for _, r := range remotes {
		if r != "10.0.1.38" {
			t.Fatalf("node2 client: RemoteAddr %v, want node2's lb endpoint 10.0.1.38", remotes)
		}
	}

	// The task on node2 stops: it is removed from both lbs at once.
	web.Backends = addrs("10.0.1.31")
	for _, n := range []*node{l.n1, l.n2} {
		if err := n.d.SetServices(ctx, mynetID, []lb.Service{web, clientSvc}); err != nil {
			t.Fatal(err)
		}
	}
	hosts, _ = curl(t, client2, "http://10.0.1.30/", 4)
	for _, h := range hosts {
		if h != "6039865a1e5d" {
			t.Fatalf("after removal hosts = %v", hosts)
		}
	}

	// Ensuring again changes nothing and breaks nothing.
	l.n1.do(t, func() error { return l.n1.d.EnsureNetwork(ctx, mynet1) })
	out, _ = exec.Command("nsenter", "--net="+infos[0].Sandbox, "ip", "-o", "link").CombinedOutput()
	if n := strings.Count(string(out), "\n"); n != 6 { // lo br0 vxlan0 veth-lb + 2 veths
		t.Errorf("links after re-ensure (%d):\n%s", n, out)
	}
	if _, r := curl(t, client, "http://10.0.1.30/", 2); r[0] != "10.0.1.37" {
		t.Fatal("re-ensure broke the VIP")
	}
	if infos, _ := l.n1.d.Inspect(ctx); !reflect.DeepEqual(infos[0].VIPs, addrs("10.0.1.30", "10.0.1.35")) {
		t.Fatalf("VIPs after re-ensure: %v", infos[0].VIPs)
	}

	// A second network is isolated from the first.
	other := netdriver.Network{ID: "zx9y8w7v6u5t4s3r2q1p0o9n8", Name: "other", Subnet: pfx("10.0.2.0/24"), Gateway: addr("10.0.2.1"), VNI: 4098, LBAddr: pfx("10.0.2.37/24")}
	l.n1.do(t, func() error { return l.n1.d.EnsureNetwork(ctx, other) })
	o1, _ := l.Netns("o1")
	if err := l.n1.d.Attach(ctx, netdriver.Endpoint{NetworkID: other.ID, ContainerID: "o1o1o1o1o1o1o1", NetnsPath: o1, Addr: pfx("10.0.2.31/24"), DefaultRoute: true}); err != nil {
		t.Fatal(err)
	}
	if err := l.n1.d.SetServices(ctx, other.ID, []lb.Service{{VIP: addr("10.0.2.30"), Mark: 0x106, Backends: addrs("10.0.2.31")}}); err != nil {
		t.Fatal(err)
	}
	unreachable(t, o1, "10.0.1.30:80")
	unreachable(t, o1, "10.0.1.31:80")
	unreachable(t, client, "10.0.2.30:80")
	// Same VNI twice on a node is refused.
	clash := other
	clash.ID, clash.VNI, clash.Subnet, clash.Gateway, clash.LBAddr = "clashclashclash", 4097, pfx("10.0.9.0/24"), addr("10.0.9.1"), pfx("10.0.9.2/24")
	if err := l.n1.d.EnsureNetwork(ctx, clash); !errors.Is(err, netdriver.ErrConflict) {
		t.Errorf("VNI clash: err = %v", err)
	}
	// A subnet overlapping the node's own underlay is refused.
	clash.VNI, clash.Subnet, clash.Gateway, clash.LBAddr = 4099, pfx("192.168.77.0/24"), addr("192.168.77.100"), pfx("192.168.77.101/24")
	if err := l.n1.d.EnsureNetwork(ctx, clash); !errors.Is(err, netdriver.ErrConflict) {
		t.Errorf("subnet clash: err = %v", err)
	}

	// The client also leaves the node through the gateway bridge.
	if err := l.n1.d.AttachEgress(ctx, netdriver.EgressEndpoint{ContainerID: "36dce35d56e80000cccc", NetnsPath: client, Addr: pfx("172.18.0.3/16")}); err != nil {
		t.Fatal(err)
	}
	out, _ = exec.Command("nsenter", "--net="+client, "ip", "-4", "-o", "addr").CombinedOutput()
	if !strings.Contains(string(out), "eth1    inet 172.18.0.3/16") {
		t.Errorf("client addresses:\n%s", out)
	}
	if err := l.n1.d.RemoveNetwork(ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(l.n1.root, "netns", netns.LBName(other.ID))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lb namespace of removed network still there: %v", err)
	}
	// Teardown: Close leaves nothing behind (checked after Close below).
	t.Cleanup(func() { assertClean(t, l.n1) })
}

func slicesContain(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// assertClean runs after the node's Driver has been closed (cleanups run
// last-in first-out, so register it after the driver).
func assertClean(t *testing.T, n *node) {
	t.Helper()
	if err := n.d.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if _, err := os.Stat(filepath.Join(n.root, "netns")); !errors.Is(err, os.ErrNotExist) {
		ents, _ := os.ReadDir(filepath.Join(n.root, "netns"))
		t.Errorf("exec-root netns still there: %v %v", err, ents)
	}
	if m, _ := netns.IsMountPoint(filepath.Join(n.root, "netns")); m {
		t.Errorf("netns dir still mounted")
	}
	out, _ := exec.Command("nsenter", "--net="+n.ns, "ip", "-o", "link").CombinedOutput()
	if strings.Contains(string(out), "vx-") || strings.Count(string(out), "\n") != 2 {
		t.Errorf("links left in node namespace:\n%s", out)
	}
	out, _ = exec.Command("nsenter", "--net="+n.ns, "nft", "list", "ruleset").CombinedOutput()
	if strings.TrimSpace(string(out)) != "" {
		t.Errorf("nft left in node namespace:\n%s", out)
	}
}

// A daemon that crashed left namespaces behind; the next one adopts the
// networks it still wants (services included) and deletes the others.
func TestRestartAdoptsWantedAndDeletesStale(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	stale := netdriver.Network{ID: "st4le5t4le5t4le5t4le5t4le", Subnet: pfx("10.0.3.0/24"), Gateway: addr("10.0.3.1"), VNI: 4100, LBAddr: pfx("10.0.3.2/24")}
	web := lb.Service{VIP: addr("10.0.1.30"), Mark: 0x106, Backends: addrs("10.0.1.31")}
	l.n1.do(t, func() error {
		if err := l.n1.d.EnsureNetwork(ctx, mynet1); err != nil {
			return err
		}
		if err := l.n1.d.SetServices(ctx, mynetID, []lb.Service{web}); err != nil {
			return err
		}
		return l.n1.d.EnsureNetwork(ctx, stale)
	})
	c1 := l.container(t, l.n1, mynetID, "6039865a1e5d0000aaaa", "10.0.1.31", true)
	client := l.container(t, l.n1, mynetID, "36dce35d56e80000cccc", "10.0.1.36", false)

	// A crash mid-create also left a vxlan in the node's namespace.
	if err := exec.Command("nsenter", "--net="+l.n1.ns, "ip", "link", "add", "vx-001005-st4le", "type", "vxlan",
		"id", "4101", "dstport", "4789", "local", "192.168.77.1", "nolearning").Run(); err != nil {
		t.Fatal(err)
	}
	// "Crash": a new driver on the same exec root, the old one never closed.
	var d2 *netdriver.Driver
	l.n1.do(t, func() error {
		cfg := netdriver.DefaultConfig()
		cfg.ExecRoot, cfg.VTEP = l.n1.root, l.n1.vtep
		var err error
		d2, err = netdriver.New(ctx, cfg)
		return err
	})
	if err := d2.Reconcile(ctx, []netdriver.Network{mynet1}); err != nil {
		t.Fatal(err)
	}
	infos, err := d2.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || !reflect.DeepEqual(infos[0].Services, []lb.Service{web}) || len(infos[0].Endpoints) != 2 {
		t.Fatalf("adopted: %+v", infos)
	}
	if netns.IsNetns(filepath.Join(l.n1.root, "netns", netns.SandboxName(stale.ID))) {
		t.Fatal("stale network's sandbox survived Reconcile")
	}
	if out, _ := exec.Command("nsenter", "--net="+l.n1.ns, "ip", "link", "show", "vx-001005-st4le").CombinedOutput(); !bytes.Contains(out, []byte("does not exist")) {
		t.Fatalf("stale vxlan survived Reconcile: %s", out)
	}
	// Adopted services still answer, and a re-attach of a live container
	// is harmless.
	if err := d2.Attach(ctx, netdriver.Endpoint{NetworkID: mynetID, ContainerID: "6039865a1e5d0000aaaa", NetnsPath: c1, Addr: pfx("10.0.1.31/24")}); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("DEBUGX") != "" {
		for _, c := range [][]string{{"nft", "list", "ruleset"}, {"ip", "a"}, {"ip", "r"}} {
			o, _ := exec.Command("nsenter", append([]string{"--net=" + infos[0].LBNetns}, c...)...).CombinedOutput()
			t.Logf("%v:\n%s", c, o)
		}
		for _, c := range [][]string{{"ip", "a"}, {"ip", "r"}} {
			o, _ := exec.Command("nsenter", append([]string{"--net=" + client}, c...)...).CombinedOutput()
			t.Logf("client %v:\n%s", c, o)
		}
		o, _ := exec.Command("nsenter", "--net="+infos[0].Sandbox, "ip", "-d", "link").CombinedOutput()
		t.Logf("sandbox:\n%s", o)
	}
	if hosts, _ := curl(t, client, "http://10.0.1.30/", 2); hosts[0] != "6039865a1e5d" {
		t.Fatalf("hosts %v", hosts)
	}
	if err := d2.SetServices(ctx, mynetID, nil); err != nil {
		t.Fatal(err)
	}
	l.n1.d = d2 // the lab's cleanup closes the live driver
	t.Cleanup(func() { assertClean(t, l.n1) })
}

func TestDiffServices(t *testing.T) {
	a := lb.Service{VIP: addr("10.0.1.30"), Mark: 1, Backends: addrs("10.0.1.31")}
	b := lb.Service{VIP: addr("10.0.1.35"), Mark: 2, Backends: addrs("10.0.1.36")}
	b2 := b
	b2.Backends = addrs("10.0.1.36", "10.0.1.40")
	b3 := b
	b3.Backends, b3.Draining = nil, addrs("10.0.1.36")
	cur := map[uint32]lb.Service{1: a, 2: b}
	for _, tc := range []struct {
		name string
		want []lb.Service
		set  []lb.Service
		del  []uint32
	}{
		{"nothing changes", []lb.Service{a, b}, nil, nil},
		{"a backend is added", []lb.Service{a, b2}, []lb.Service{b2}, nil},
		{"a backend starts draining", []lb.Service{a, b3}, []lb.Service{b3}, nil},
		{"a service goes", []lb.Service{a}, nil, []uint32{2}},
		{"all go", nil, nil, []uint32{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, del := netdriver.DiffServices(cur, tc.want)
			if !reflect.DeepEqual(set, tc.set) || !reflect.DeepEqual(del, tc.del) {
				t.Fatalf("set %v del %v", set, del)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := netdriver.DefaultConfig()
	if err := cfg.Validate(); err == nil {
		t.Error("config without VTEP accepted")
	}
	cfg.VTEP = addr("192.168.77.1")
	cfg.LBBackend = "ipvs"
	if err := cfg.Validate(); err == nil {
		t.Error("ipvs forced without a factory accepted")
	}
	cfg.LBBackend = ""
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
}

// bigSet is web plus n-1 services on VIPs 10.0.100.0 and up (a /16
// network), 10 backends each.
func bigSet(n int) []lb.Service {
	out := []lb.Service{{VIP: addr("10.0.1.30"), Mark: 0x106, Backends: addrs("10.0.1.31", "10.0.1.32")}}
	for i := 0; i < n-1; i++ {
		v := 0x6400 + i
		s := lb.Service{VIP: netip.AddrFrom4([4]byte{10, 0, byte(v >> 8), byte(v)}), Mark: 0x200 + uint32(i)}
		for j := 0; j < 10; j++ {
			s.Backends = append(s.Backends, netip.AddrFrom4([4]byte{10, 0, 200 + byte(j), byte(i%250 + 1)}))
		}
		out = append(out, s)
	}
	return out
}

// SetServices as the worker calls it: 10,000 VIPs on the lb endpoint and
// 10,000 services x 10 backends in the load balancer, from empty.
func BenchmarkDriverSetServices10000FromEmpty(bm *testing.B) {
	l := newLab(bm)
	ctx := context.Background()
	big := netdriver.Network{ID: mynetID, Subnet: pfx("10.0.0.0/16"), Gateway: addr("10.0.0.1"), VNI: 4097, LBAddr: pfx("10.0.1.37/16")}
	if err := l.n1.d.EnsureNetwork(ctx, big); err != nil {
		bm.Fatal(err)
	}
	set := bigSet(10000)
	for bm.Loop() {
		if err := l.n1.d.SetServices(ctx, mynetID, set); err != nil {
			bm.Fatal(err)
		}
		bm.StopTimer()
		if err := l.n1.d.SetServices(ctx, mynetID, nil); err != nil {
			bm.Fatal(err)
		}
		bm.StartTimer()
	}
}

// keepAlive is one persistent HTTP/1.1 connection from a container.
type keepAlive struct {
	net.Conn
	r *bufio.Reader
}

func dialKeepAlive(t *testing.T, from, hostport string) *keepAlive {
	t.Helper()
	c, err := labtest.Dialer(from, 5*time.Second)(context.Background(), "tcp4", hostport)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &keepAlive{Conn: c, r: bufio.NewReader(c)}
}

// ask sends one request on the connection and returns who answered.
func (k *keepAlive) ask() (string, error) {
	if err := k.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return "", err
	}
	if _, err := io.WriteString(k, "GET / HTTP/1.1\r\nHost: web\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(k.r, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return labtest.Field(string(body), "Hostname"), err
}

// A task told to stop drains: new connections to the VIP go to the other
// task at once, while a keep-alive connection already on the draining one
// is still answered by it (nftables: it left the selection map, conntrack
// keeps its DNAT). `lb inspect` shows it with weight 0 until it is removed.
func TestDrainingBackendKeepsItsConnections(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	l.n1.do(t, func() error { return l.n1.d.EnsureNetwork(ctx, mynet1) })
	l.container(t, l.n1, mynetID, "6039865a1e5d0000aaaa", "10.0.1.31", true)
	l.container(t, l.n1, mynetID, "c3b3e99b9bb10000bbbb", "10.0.1.32", true)
	client := l.container(t, l.n1, mynetID, "36dce35d56e80000cccc", "10.0.1.36", false)
	web1, web2 := netns.ContainerName("6039865a1e5d0000aaaa"), netns.ContainerName("c3b3e99b9bb10000bbbb")
	set := func(s lb.Service) {
		t.Helper()
		l.n1.do(t, func() error { return l.n1.d.SetServices(ctx, mynetID, []lb.Service{s}) })
	}
	set(lb.Service{VIP: addr("10.0.1.30"), Mark: 0x106, Backends: addrs("10.0.1.31", "10.0.1.32")})

	var onWeb2 *keepAlive
	for range 2 {
		c := dialKeepAlive(t, client, "10.0.1.30:80")
		h, err := c.ask()
		if err != nil {
			t.Fatalf("first request on a keep-alive connection: %v", err)
		}
		if h == web2 {
			onWeb2 = c
		}
	}
	if onWeb2 == nil {
		t.Fatal("no keep-alive connection landed on the second task")
	}

	drain := lb.Service{VIP: addr("10.0.1.30"), Mark: 0x106, Backends: addrs("10.0.1.31"), Draining: addrs("10.0.1.32")}
	set(drain)
	if hosts, _ := curl(t, client, "http://10.0.1.30/", 4); !reflect.DeepEqual(hosts, []string{web1, web1, web1, web1}) {
		t.Errorf("new connections while %s drains went to %v", web2, hosts)
	}
	for i := range 3 {
		if h, err := onWeb2.ask(); err != nil || h != web2 {
			t.Fatalf("request %d on the established connection to the draining task: %q, %v", i+1, h, err)
		}
	}
	infos, err := l.n1.d.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || len(infos[0].Services) != 1 || !reflect.DeepEqual(infos[0].Services[0], drain) {
		t.Fatalf("inspect while draining: %+v", infos)
	}

	set(lb.Service{VIP: addr("10.0.1.30"), Mark: 0x106, Backends: addrs("10.0.1.31")})
	infos, err = l.n1.d.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s := infos[0].Services[0]; len(s.Draining) != 0 || !slices.Equal(s.Backends, addrs("10.0.1.31")) {
		t.Fatalf("after removal: %+v", s)
	}
}
