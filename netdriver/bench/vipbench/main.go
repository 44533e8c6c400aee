// Command vipbench measures, in one run, the VIP data path that minsw's
// netdriver builds against the same two-node path built by hand from
// DESIGN's recipe with ip and nft -f, and prints requests/s and p99 ratios
// (minsw ÷ hand-built, keep-alive and Connection: close; VIP ÷ straight to
// a backend) and the per-request cost with 10,000 services ÷ with 10.
//
// Everything lives in namespaces under a fresh temporary directory; traffic
// stays inside them. Every load run is bounded in requests and in time.
// Run as root: go run ./netdriver/bench/vipbench
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/minsw/minsw/netdriver/bench/loadgen"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/minsw/minsw/netdriver"
	"github.com/minsw/minsw/netdriver/internal/labtest"
	"github.com/minsw/minsw/netdriver/lb"
	"github.com/minsw/minsw/netdriver/netns"
	"github.com/minsw/minsw/netdriver/overlay"
)

var (
	dur      = flag.Duration("d", 2*time.Second, "time bound of one load run")
	maxReq   = flag.Int("n", 200000, "request bound of one load run")
	workers  = flag.Int("c", 4, "concurrent connections")
	rounds   = flag.Int("rounds", 3, "interleaved rounds; medians are reported")
	services = flag.Int("scale", 10000, "service count for the scale comparison")
)

const (
	subnet = "10.0.0.0/16"
	vip    = "10.0.1.30"
	web1   = "10.0.1.31" // on node1, next to the client
	web2   = "10.0.1.32" // on node2, across vxlan
	client = "10.0.1.36"
	lbIP   = "10.0.1.37"
	lbIP2  = "10.0.1.38"
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "vipbench:", err)
		os.Exit(1)
	}
}

type path struct {
	name    string
	client  string // client namespace
	cleanup []func()
}

func (p *path) close() {
	for i := len(p.cleanup) - 1; i >= 0; i-- {
		p.cleanup[i]()
	}
}

func run() error {
	dir, err := os.MkdirTemp("", "vipbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	hand, err := buildHand(filepath.Join(dir, "h"))
	if hand != nil {
		defer hand.close()
	}
	if err != nil {
		return fmt.Errorf("hand-built path: %w", err)
	}
	m, err := buildMinsw(filepath.Join(dir, "m"))
	if m != nil {
		defer m.close()
	}
	if err != nil {
		return fmt.Errorf("minsw path: %w", err)
	}

	vipURL := []string{vip + ":80"}
	direct := []string{web1 + ":80", web2 + ":80"}
	fmt.Printf("vipbench: %d connections, each run bounded by %v and %d requests, %d rounds, GOMAXPROCS=%d\n",
		*workers, *dur, *maxReq, *rounds, runtime.GOMAXPROCS(0))
	for _, p := range []*path{hand, &m.path} {
		if r := loadgen.Run(p.client, vipURL, true, 1, 20, time.Second); r.OK == 0 {
			return fmt.Errorf("%s: VIP does not answer: %v", p.name, r.FirstErr)
		}
	}

	type key struct{ what, mode string }
	res := map[key][]loadgen.Result{}
	for r := 0; r < *rounds; r++ {
		for _, ka := range []bool{true, false} {
			mode := modeName(ka)
			res[key{"hand VIP", mode}] = append(res[key{"hand VIP", mode}], loadgen.Run(hand.client, vipURL, ka, *workers, *maxReq, *dur))
			res[key{"minsw VIP", mode}] = append(res[key{"minsw VIP", mode}], loadgen.Run(m.client, vipURL, ka, *workers, *maxReq, *dur))
			res[key{"direct", mode}] = append(res[key{"direct", mode}], loadgen.Run(m.client, direct, ka, *workers, *maxReq, *dur))
		}
	}
	fmt.Println("\nwhat            mode        req/s (median)   p99      errors")
	for _, mode := range []string{"keep-alive", "close"} {
		for _, w := range []string{"hand VIP", "minsw VIP", "direct"} {
			rs := res[key{w, mode}]
			fmt.Printf("%-15s %-11s %10.0f   %8v   %d\n", w, mode, loadgen.MedianRPS(rs), loadgen.MedianP99(rs).Round(time.Microsecond), loadgen.Failures(rs))
		}
	}
	fmt.Println("\nratio                                     keep-alive   close")
	ratio := func(a, b string, f func([]loadgen.Result) float64) (float64, float64) {
		return f(res[key{a, "keep-alive"}]) / f(res[key{b, "keep-alive"}]), f(res[key{a, "close"}]) / f(res[key{b, "close"}])
	}
	k, c := ratio("minsw VIP", "hand VIP", loadgen.MedianRPS)
	fmt.Printf("req/s minsw VIP ÷ hand-built VIP           %6.3f      %6.3f   (must ≥ 0.95)\n", k, c)
	k, c = ratio("minsw VIP", "direct", loadgen.MedianRPS)
	fmt.Printf("req/s minsw VIP ÷ straight to backends     %6.3f      %6.3f\n", k, c)
	k, c = ratio("hand VIP", "direct", loadgen.MedianRPS)
	fmt.Printf("req/s hand VIP ÷ straight to backends      %6.3f      %6.3f\n", k, c)
	p99 := func(rs []loadgen.Result) float64 { return float64(loadgen.MedianP99(rs)) }
	k, c = ratio("minsw VIP", "hand VIP", p99)
	fmt.Printf("p99 minsw VIP ÷ hand-built VIP             %6.3f      %6.3f   (must ≤ 1.1)\n", k, c)

	// Scale: the same VIP among 10 services, then among 10,000.
	small, big := m.services(10), m.services(*services)
	scale := map[key][]loadgen.Result{}
	for r := 0; r < *rounds; r++ {
		for _, set := range [][]lb.Service{small, big} {
			t0 := time.Now()
			if err := m.d1.SetServices(context.Background(), m.netID, set); err != nil {
				return err
			}
			prog := time.Since(t0)
			n := fmt.Sprint(len(set))
			if r == 0 {
				fmt.Printf("\nSetServices to %d services took %v", len(set), prog.Round(time.Millisecond))
			}
			for _, ka := range []bool{true, false} {
				scale[key{n, modeName(ka)}] = append(scale[key{n, modeName(ka)}], loadgen.Run(m.client, vipURL, ka, *workers, *maxReq, *dur))
			}
		}
	}
	fmt.Printf("\n\nservices  mode        req/s (median)   p99\n")
	for _, mode := range []string{"keep-alive", "close"} {
		for _, n := range []int{len(small), len(big)} {
			rs := scale[key{fmt.Sprint(n), mode}]
			fmt.Printf("%-9d %-11s %10.0f   %8v   errors %d\n", n, mode, loadgen.MedianRPS(rs), loadgen.MedianP99(rs).Round(time.Microsecond), loadgen.Failures(rs))
		}
	}
	for _, mode := range []string{"keep-alive", "close"} {
		a, b := scale[key{fmt.Sprint(len(small)), mode}], scale[key{fmt.Sprint(len(big)), mode}]
		fmt.Printf("per-request cost %d services ÷ %d (%s): %.3f   (must ≤ 1.10)\n", len(big), len(small), mode, loadgen.MedianRPS(a)/loadgen.MedianRPS(b))
	}
	return nil
}

func modeName(keepAlive bool) string {
	if keepAlive {
		return "keep-alive"
	}
	return "close"
}

// ---- load generator ----

// ---- the hand-built path, from DESIGN's recipe ----

func sh(ns string, args ...string) error {
	cmd := exec.Command("nsenter", append([]string{"--net=" + ns}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func shAll(ns string, cmds ...string) error {
	for _, c := range cmds {
		if err := sh(ns, strings.Fields(c)...); err != nil {
			return err
		}
	}
	return nil
}

func mac(ip string) string { return overlay.MACFromIP(netip.MustParseAddr(ip)).String() }

// dummyServices are the nine other services both paths carry next to web.
func dummyServices(n int) []lb.Service {
	out := make([]lb.Service, 0, n)
	for i := 0; i < n; i++ {
		v := 0x0a006400 + uint32(i) // 10.0.100.0 and up
		s := lb.Service{VIP: netip.AddrFrom4([4]byte{10, 0, byte(v >> 8), byte(v)}), Mark: 0x200 + uint32(i)}
		for j := 0; j < 10; j++ {
			s.Backends = append(s.Backends, netip.AddrFrom4([4]byte{10, 0, 200 + byte(j), byte(i%250 + 1)}))
		}
		out = append(out, s)
	}
	return out
}

func buildHand(dir string) (*path, error) {
	p := &path{name: "hand-built"}
	lab := labtest.New(dir)
	p.cleanup = append(p.cleanup, func() { lab.Close() })
	var err0 error
	mk := func(name string) string {
		s, e := lab.Netns(name)
		if e != nil && err0 == nil {
			err0 = e
		}
		return s
	}
	n1, n2 := mk("hnode1"), mk("hnode2")
	sb1, sb2 := mk("1-hand1"), mk("1-hand2")
	lbns := mk("lb_hand1")
	w1, w2, cl := mk("hweb1"), mk("hweb2"), mk("hclient")
	if err0 != nil {
		return p, err0
	}
	if err := labtest.Wire(n1, "ul0", netip.MustParsePrefix("192.168.78.1/24"), n2, "ul0", netip.MustParsePrefix("192.168.78.2/24")); err != nil {
		return p, err
	}
	for i, x := range []struct{ node, sb, vtep string }{{n1, sb1, "192.168.78.1"}, {n2, sb2, "192.168.78.2"}} {
		vx := fmt.Sprintf("vxh%d", i)
		if err := shAll(x.sb, "ip link add br0 type bridge", "ip addr add 10.0.0.1/16 dev br0", "ip link set br0 mtu 1450 up"); err != nil {
			return p, err
		}
		if err := shAll(x.node, "ip link add "+vx+" type vxlan id 5001 dstport 4789 local "+x.vtep+" nolearning proxy",
			"ip link set "+vx+" netns "+x.sb); err != nil {
			return p, err
		}
		if err := shAll(x.sb, "ip link set "+vx+" name vxlan0", "ip link set vxlan0 mtu 1450 master br0 up"); err != nil {
			return p, err
		}
	}
	attach := func(sb, ns, veth, ip string) error {
		if err := shAll(sb, "ip link add "+veth+" mtu 1450 type veth peer name eth0 netns "+ns,
			"ip link set "+veth+" master br0 up"); err != nil {
			return err
		}
		return shAll(ns, "ip link set eth0 address "+mac(ip), "ip addr add "+ip+"/16 dev eth0", "ip link set eth0 up")
	}
	for _, a := range [][4]string{{sb1, w1, "vw1", web1}, {sb2, w2, "vw2", web2}, {sb1, cl, "vcl", client}, {sb1, lbns, "vlb", lbIP}} {
		if err := attach(a[0], a[1], a[2], a[3]); err != nil {
			return p, err
		}
	}
	// Peers: node1 knows web2; node2 knows web1, the client and node1's lb.
	if err := shAll(sb1, "ip neigh add "+web2+" lladdr "+mac(web2)+" dev vxlan0 nud permanent",
		"bridge fdb add "+mac(web2)+" dev vxlan0 dst 192.168.78.2 self permanent"); err != nil {
		return p, err
	}
	for _, ip := range []string{web1, client, lbIP} {
		if err := shAll(sb2, "ip neigh add "+ip+" lladdr "+mac(ip)+" dev vxlan0 nud permanent",
			"bridge fdb add "+mac(ip)+" dev vxlan0 dst 192.168.78.1 self permanent"); err != nil {
			return p, err
		}
	}
	svcs := append([]lb.Service{{VIP: netip.MustParseAddr(vip), Mark: 0x106,
		Backends: []netip.Addr{netip.MustParseAddr(web1), netip.MustParseAddr(web2)}}}, dummyServices(9)...)
	cmds := []string{"sysctl -qw net.ipv4.ip_forward=1", "sysctl -qw net.ipv4.conf.all.send_redirects=0",
		"sysctl -qw net.ipv4.conf.default.send_redirects=0", "sysctl -qw net.ipv4.conf.eth0.send_redirects=0"}
	for _, s := range svcs {
		cmds = append(cmds, "ip addr add "+s.VIP.String()+"/32 dev eth0")
	}
	if err := shAll(lbns, cmds...); err != nil {
		return p, err
	}
	var f strings.Builder
	f.WriteString("table ip minsw {\n\tchain prerouting {\n\t\ttype filter hook prerouting priority mangle; policy accept;\n\t\tmeta mark set ip daddr map { ")
	for i, s := range svcs {
		if i > 0 {
			f.WriteString(", ")
		}
		fmt.Fprintf(&f, "%v : %#x", s.VIP, s.Mark)
	}
	f.WriteString(" }\n\t}\n\tchain lb_dnat {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n")
	for _, s := range svcs {
		fmt.Fprintf(&f, "\t\tmeta mark %#x dnat to numgen inc mod %d map { ", s.Mark, len(s.Backends))
		for i, b := range s.Backends {
			if i > 0 {
				f.WriteString(", ")
			}
			fmt.Fprintf(&f, "%d : %v", i, b)
		}
		f.WriteString(" }\n")
	}
	f.WriteString("\t}\n\tchain lb_snat {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\tmeta mark != 0 snat to " + lbIP + "\n\t}\n}\n")
	nftFile := filepath.Join(dir, "hand.nft")
	if err := os.WriteFile(nftFile, []byte(f.String()), 0o644); err != nil {
		return p, err
	}
	if err := sh(lbns, "nft", "-f", nftFile); err != nil {
		return p, err
	}
	if err := tune(lbns, cl, w1, w2); err != nil {
		return p, err
	}
	for _, s := range [][2]string{{w1, "hweb1"}, {w2, "hweb2"}} {
		srv, err := labtest.StartWhoami(s[0], s[1])
		if err != nil {
			return p, err
		}
		p.cleanup = append(p.cleanup, func() { srv.Close() })
	}
	p.client = cl
	return p, nil
}

// tune gives both paths the same short-connection headroom: a wide port
// range and quick TIME_WAIT recycling in conntrack, so that Connection:
// close runs measure the path, not port exhaustion.
func tune(lbns string, others ...string) error {
	if err := shAll(lbns, "sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=1"); err != nil {
		return err
	}
	for _, ns := range others {
		if err := sh(ns, "sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65000", "net.ipv4.tcp_tw_reuse=1"); err != nil {
			return err
		}
	}
	return nil
}

// ---- minsw's path ----

type minswPath struct {
	path
	d1, d2 *netdriver.Driver
	netID  string
}

func (m *minswPath) services(n int) []lb.Service {
	web := lb.Service{VIP: netip.MustParseAddr(vip), Mark: 0x106,
		Backends: []netip.Addr{netip.MustParseAddr(web1), netip.MustParseAddr(web2)}}
	return append([]lb.Service{web}, dummyServices(n-1)...)
}

func buildMinsw(dir string) (*minswPath, error) {
	m := &minswPath{path: path{name: "minsw"}, netID: "lpirdge00y3jq8w7e6r5t4y3u"}
	lab := labtest.New(dir)
	m.cleanup = append(m.cleanup, func() { lab.Close() })
	var err error
	mk := func(name string) string {
		s, e := lab.Netns(name)
		if e != nil && err == nil {
			err = e
		}
		return s
	}
	n1, n2 := mk("mnode1"), mk("mnode2")
	w1, w2, cl := mk("mweb1"), mk("mweb2"), mk("mclient")
	if err != nil {
		return m, err
	}
	if err := labtest.Wire(n1, "ul0", netip.MustParsePrefix("192.168.77.1/24"), n2, "ul0", netip.MustParsePrefix("192.168.77.2/24")); err != nil {
		return m, err
	}
	ctx := context.Background()
	newDriver := func(node, vtep, root string) (*netdriver.Driver, error) {
		var d *netdriver.Driver
		err := netns.Do(node, func() error {
			cfg := netdriver.DefaultConfig()
			cfg.ExecRoot, cfg.VTEP = root, netip.MustParseAddr(vtep)
			var err error
			d, err = netdriver.New(ctx, cfg)
			return err
		})
		return d, err
	}
	if m.d1, err = newDriver(n1, "192.168.77.1", filepath.Join(dir, "root1")); err != nil {
		return m, err
	}
	m.cleanup = append(m.cleanup, func() { m.d1.Close() })
	if m.d2, err = newDriver(n2, "192.168.77.2", filepath.Join(dir, "root2")); err != nil {
		return m, err
	}
	m.cleanup = append(m.cleanup, func() { m.d2.Close() })
	nw := netdriver.Network{ID: m.netID, Name: "mynet", Subnet: netip.MustParsePrefix(subnet), Gateway: netip.MustParseAddr("10.0.0.1"), VNI: 4097, LBAddr: netip.MustParsePrefix(lbIP + "/16")}
	nw2 := nw
	nw2.LBAddr = netip.MustParsePrefix(lbIP2 + "/16")
	if err := errors.Join(m.d1.EnsureNetwork(ctx, nw), m.d2.EnsureNetwork(ctx, nw2)); err != nil {
		return m, err
	}
	for _, a := range []struct {
		d      *netdriver.Driver
		ns, ip string
	}{{m.d1, w1, web1}, {m.d2, w2, web2}, {m.d1, cl, client}} {
		if err := a.d.Attach(ctx, netdriver.Endpoint{NetworkID: m.netID, ContainerID: "c-" + a.ip, NetnsPath: a.ns, Addr: netip.MustParsePrefix(a.ip + "/16")}); err != nil {
			return m, err
		}
	}
	v1, v2 := netip.MustParseAddr("192.168.77.1"), netip.MustParseAddr("192.168.77.2")
	var peers []netdriver.Peer
	for _, x := range []struct {
		ip   string
		vtep netip.Addr
	}{{web1, v1}, {client, v1}, {lbIP, v1}, {web2, v2}, {lbIP2, v2}} {
		peers = append(peers, netdriver.Peer{Addr: netip.MustParseAddr(x.ip), VTEP: x.vtep})
	}
	if err := errors.Join(m.d1.SetPeers(ctx, m.netID, peers), m.d2.SetPeers(ctx, m.netID, peers),
		m.d1.SetServices(ctx, m.netID, m.services(10))); err != nil {
		return m, err
	}
	infos, err := m.d1.Inspect(ctx)
	if err != nil {
		return m, err
	}
	if err := tune(infos[0].LBNetns, cl, w1, w2); err != nil {
		return m, err
	}
	for _, s := range [][2]string{{w1, "mweb1"}, {w2, "mweb2"}} {
		srv, err := labtest.StartWhoami(s[0], s[1])
		if err != nil {
			return m, err
		}
		m.cleanup = append(m.cleanup, func() { srv.Close() })
	}
	m.client = cl
	return m, nil
}
