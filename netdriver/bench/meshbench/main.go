// Command meshbench measures, in one run, the routing mesh's data path
// against the service's internal VIP and against the tasks themselves, and
// the mesh's cost with 1,000 published ports against 1.
//
// Three node namespaces and an outside client share an underlay bridge;
// web's two tasks run on node1 and node2, attached to ingress (8080->80)
// and to mynet (VIP 10.1.1.30). The loads are interleaved in rounds:
//
//	mesh    outside client -> node3:8080 (node3 runs no task): node DNAT,
//	        ingress_sbox mark + lb + SNAT, vxlan, task redirect 8080->80
//	vip     container on node3 -> 10.1.1.30:80: lb_ namespace, vxlan
//	direct  container on node3 -> 10.1.1.31/32:80: vxlan only
//
// Everything lives in namespaces under a fresh temporary directory, built
// with the netdriver as the daemon builds it; traffic stays inside them.
// Every load run is bounded in requests and in time. Run as root:
// go run ./netdriver/bench/meshbench
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/minsw/minsw/netdriver/bench/loadgen"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/minsw/minsw/netdriver"
	"github.com/minsw/minsw/netdriver/ingress"
	"github.com/minsw/minsw/netdriver/internal/labtest"
	"github.com/minsw/minsw/netdriver/lb"
	"github.com/minsw/minsw/netdriver/netns"
)

var (
	dur     = flag.Duration("d", 2*time.Second, "time bound of one load run")
	maxReq  = flag.Int("n", 200000, "request bound of one load run")
	workers = flag.Int("c", 4, "concurrent connections")
	rounds  = flag.Int("rounds", 3, "interleaved rounds; medians are reported")
	ports   = flag.Int("ports", 1000, "published port count for the scale comparison")
	pubFlag = flag.Uint("published", 8080, "web's published port (80: no redirect in the task)")
)

const (
	ingressID = "ingr3ssn3tw0rk0000000000a"
	mynetID   = "lpirdge00y3jq8w7e6r5t4y3u"
	mark      = 0x120
	vipMark   = 0x106
)

var published uint16

func main() {
	flag.Parse()
	published = uint16(*pubFlag)
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "meshbench:", err)
		os.Exit(1)
	}
}

type lab struct {
	dir     string
	lab     *labtest.Lab
	drivers []*netdriver.Driver
	nodes   []string // node namespaces
	outside string   // client on the underlay
	ctr     string   // client container on node3
	cleanup []func()
}

func (l *lab) close() {
	for i := len(l.cleanup) - 1; i >= 0; i-- {
		l.cleanup[i]()
	}
}

func run() error {
	dir, err := os.MkdirTemp("", "meshbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	l, err := build(dir)
	if l != nil {
		defer l.close()
	}
	if err != nil {
		return err
	}
	meshAddr := []string{fmt.Sprintf("192.168.79.3:%d", published)}
	vipAddr := []string{"10.1.1.30:80"}
	direct := []string{"10.1.1.31:80", "10.1.1.32:80"}
	fmt.Printf("meshbench: %d connections, each run bounded by %v and %d requests, %d rounds, GOMAXPROCS=%d, lb backend %s\n",
		*workers, *dur, *maxReq, *rounds, runtime.GOMAXPROCS(0), backendName(l.drivers[2]))
	for _, p := range []struct {
		from string
		to   []string
	}{{l.outside, meshAddr}, {l.ctr, vipAddr}, {l.ctr, direct}} {
		if r := loadgen.Run(p.from, p.to, true, 1, 20, 2*time.Second); r.OK == 0 {
			return fmt.Errorf("%v does not answer: %v", p.to, r.FirstErr)
		}
	}

	type key struct{ what, mode string }
	res := map[key][]loadgen.Result{}
	for range *rounds {
		for _, ka := range []bool{true, false} {
			mode := modeName(ka)
			res[key{"mesh", mode}] = append(res[key{"mesh", mode}], loadgen.Run(l.outside, meshAddr, ka, *workers, *maxReq, *dur))
			res[key{"vip", mode}] = append(res[key{"vip", mode}], loadgen.Run(l.ctr, vipAddr, ka, *workers, *maxReq, *dur))
			res[key{"direct", mode}] = append(res[key{"direct", mode}], loadgen.Run(l.ctr, direct, ka, *workers, *maxReq, *dur))
		}
	}
	fmt.Println("\nwhat                              mode        req/s (median)   p99      errors")
	for _, mode := range []string{"keep-alive", "close"} {
		for _, w := range []struct{ k, label string }{
			{"mesh", "mesh via node3 (no task)"}, {"vip", "VIP from a container"}, {"direct", "straight to the tasks"}} {
			rs := res[key{w.k, mode}]
			fmt.Printf("%-33s %-11s %10.0f   %8v   %d\n", w.label, mode, loadgen.MedianRPS(rs), loadgen.MedianP99(rs).Round(time.Microsecond), loadgen.Failures(rs))
		}
	}
	ratio := func(a, b string) (float64, float64) {
		return loadgen.MedianRPS(res[key{a, "keep-alive"}]) / loadgen.MedianRPS(res[key{b, "keep-alive"}]),
			loadgen.MedianRPS(res[key{a, "close"}]) / loadgen.MedianRPS(res[key{b, "close"}])
	}
	fmt.Println("\nratio                                     keep-alive   close")
	k, c := ratio("mesh", "vip")
	fmt.Printf("req/s mesh ÷ internal VIP                  %6.3f      %6.3f   (must ≥ 0.8, goal ≥ 0.95)\n", k, c)
	k, c = ratio("mesh", "direct")
	fmt.Printf("req/s mesh ÷ straight to a task           %6.3f      %6.3f\n", k, c)
	k, c = ratio("vip", "direct")
	fmt.Printf("req/s VIP ÷ straight to a task            %6.3f      %6.3f\n", k, c)

	// Scale: web's port alone, then among *ports published ports (and as
	// many services in ingress_sbox).
	ctx := context.Background()
	d3 := l.drivers[2]
	scale := map[key][]loadgen.Result{}
	for r := range *rounds {
		for _, n := range []int{1, *ports} {
			marks, svcs := publishedSet(n)
			t0 := time.Now()
			if err := errors.Join(d3.SetServices(ctx, ingressID, svcs), d3.SetPublished(ctx, marks, nil)); err != nil {
				return err
			}
			if r == 0 {
				fmt.Printf("\nSetServices+SetPublished to %d published ports took %v", n, time.Since(t0).Round(time.Millisecond))
			}
			for _, ka := range []bool{true, false} {
				kk := key{fmt.Sprint(n), modeName(ka)}
				scale[kk] = append(scale[kk], loadgen.Run(l.outside, meshAddr, ka, *workers, *maxReq, *dur))
			}
		}
	}
	fmt.Printf("\n\nports     mode        req/s (median)   p99      errors\n")
	for _, mode := range []string{"keep-alive", "close"} {
		for _, n := range []int{1, *ports} {
			rs := scale[key{fmt.Sprint(n), mode}]
			fmt.Printf("%-9d %-11s %10.0f   %8v   %d\n", n, mode, loadgen.MedianRPS(rs), loadgen.MedianP99(rs).Round(time.Microsecond), loadgen.Failures(rs))
		}
	}
	for _, mode := range []string{"keep-alive", "close"} {
		a, b := scale[key{"1", mode}], scale[key{fmt.Sprint(*ports), mode}]
		fmt.Printf("per-request cost %d published ports ÷ 1 (%s): %.3f   (must ≤ 1.10, goal ≤ 1.02)\n", *ports, mode, loadgen.MedianRPS(a)/loadgen.MedianRPS(b))
	}
	return nil
}

func backendName(d *netdriver.Driver) string { n, _ := d.Backend(); return n }

// publishedSet is web's port plus n-1 others, each its own service with
// one backend in ingress_sbox, the way n published services look.
func publishedSet(n int) ([]ingress.PortMark, []lb.Service) {
	marks := []ingress.PortMark{{Port: ingress.Port{Proto: ingress.TCP, Port: published}, Mark: mark}}
	svcs := []lb.Service{webIngress()}
	for i := 1; i < n; i++ {
		m := uint32(0x1000 + i)
		marks = append(marks, ingress.PortMark{Port: ingress.Port{Proto: ingress.TCP, Port: uint16(20000 + i)}, Mark: m})
		// VIPs from 10.0.0.0/16's upper half, backends that do not exist.
		svcs = append(svcs, lb.Service{VIP: netip.AddrFrom4([4]byte{10, 0, byte(128 + i/250), byte(1 + i%250)}), Mark: m,
			Backends: []netip.Addr{netip.AddrFrom4([4]byte{10, 0, byte(200 + i/250), byte(1 + i%250)})}})
	}
	return marks, svcs
}

func webIngress() lb.Service {
	return lb.Service{VIP: netip.MustParseAddr("10.0.0.10"), Mark: mark,
		Backends: []netip.Addr{netip.MustParseAddr("10.0.0.11"), netip.MustParseAddr("10.0.0.12")}}
}

// build makes the three nodes, their ingress and mynet networks, web's
// two tasks and the two clients.
func build(dir string) (*lab, error) {
	l := &lab{dir: dir, lab: labtest.New(dir)}
	l.cleanup = append(l.cleanup, func() { l.lab.Close() })
	var err error
	mk := func(name string) string {
		s, e := l.lab.Netns(name)
		if e != nil && err == nil {
			err = e
		}
		return s
	}
	sw := mk("switch")
	for i := range 3 {
		l.nodes = append(l.nodes, mk(fmt.Sprintf("node%d", i+1)))
	}
	l.outside = mk("outside")
	w1, w2, ctr := mk("web1"), mk("web2"), mk("ctr")
	if err != nil {
		return l, err
	}
	addrs := []string{"192.168.79.1/24", "192.168.79.2/24", "192.168.79.3/24", "192.168.79.100/24"}
	if err := underlay(sw, append(slices.Clone(l.nodes), l.outside), addrs); err != nil {
		return l, err
	}
	ctx := context.Background()
	// The ingress network is a /16 here so that the scale run's thousand
	// dummy VIPs fit; the routing is the same.
	in := netdriver.Network{ID: ingressID, Name: "ingress", Subnet: netip.MustParsePrefix("10.0.0.0/16"),
		Gateway: netip.MustParseAddr("10.0.0.1"), VNI: 4096}
	my := netdriver.Network{ID: mynetID, Name: "mynet", Subnet: netip.MustParsePrefix("10.1.0.0/16"),
		Gateway: netip.MustParseAddr("10.1.0.1"), VNI: 4097}
	var inPeers, myPeers []netdriver.Peer
	for i, n := range l.nodes {
		cfg := netdriver.DefaultConfig()
		cfg.ExecRoot = filepath.Join(dir, fmt.Sprintf("root%d", i+1))
		cfg.VTEP = netip.MustParseAddr(fmt.Sprintf("192.168.79.%d", i+1))
		cfg.UnderlayNetns = n
		d, err := netdriver.New(ctx, cfg)
		if err != nil {
			return l, err
		}
		l.drivers = append(l.drivers, d)
		l.cleanup = append(l.cleanup, func() { d.Close() })
		in.LBAddr = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(2 + i)}), 16)
		my.LBAddr = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 1, 0, byte(2 + i)}), 16)
		if err := errors.Join(d.EnsureIngress(ctx, in), d.EnsureNetwork(ctx, my)); err != nil {
			return l, err
		}
		inPeers = append(inPeers, netdriver.Peer{Addr: in.LBAddr.Addr(), VTEP: cfg.VTEP})
		myPeers = append(myPeers, netdriver.Peer{Addr: my.LBAddr.Addr(), VTEP: cfg.VTEP})
	}
	tasks := []struct {
		d      *netdriver.Driver
		ns     string
		in, my string
		name   string
	}{{l.drivers[0], w1, "10.0.0.11", "10.1.1.31", "web.1"}, {l.drivers[1], w2, "10.0.0.12", "10.1.1.32", "web.2"}}
	for i, t := range tasks {
		vtep := netip.MustParseAddr(fmt.Sprintf("192.168.79.%d", i+1))
		err := errors.Join(
			t.d.Attach(ctx, netdriver.Endpoint{NetworkID: ingressID, ContainerID: "c-" + t.in, NetnsPath: t.ns, Addr: netip.MustParsePrefix(t.in + "/16"), IfName: "eth0"}),
			t.d.Attach(ctx, netdriver.Endpoint{NetworkID: mynetID, ContainerID: "c-" + t.my, NetnsPath: t.ns, Addr: netip.MustParsePrefix(t.my + "/16"), IfName: "eth1"}))
		if err != nil {
			return l, err
		}
		if err := t.d.SetTaskRedirects(ctx, t.ns, netip.MustParseAddr(t.in),
			[]ingress.Redirect{{Port: ingress.Port{Proto: ingress.TCP, Port: published}, Target: 80}}); err != nil {
			return l, err
		}
		inPeers = append(inPeers, netdriver.Peer{Addr: netip.MustParseAddr(t.in), VTEP: vtep})
		myPeers = append(myPeers, netdriver.Peer{Addr: netip.MustParseAddr(t.my), VTEP: vtep})
		srv, err := labtest.StartWhoami(t.ns, t.name)
		if err != nil {
			return l, err
		}
		l.cleanup = append(l.cleanup, func() { srv.Close() })
	}
	d3 := l.drivers[2]
	if err := d3.Attach(ctx, netdriver.Endpoint{NetworkID: mynetID, ContainerID: "c-ctr", NetnsPath: ctr, Addr: netip.MustParsePrefix("10.1.1.36/16")}); err != nil {
		return l, err
	}
	myPeers = append(myPeers, netdriver.Peer{Addr: netip.MustParseAddr("10.1.1.36"), VTEP: netip.MustParseAddr("192.168.79.3")})
	for _, d := range l.drivers {
		if err := errors.Join(d.SetPeers(ctx, ingressID, inPeers), d.SetPeers(ctx, mynetID, myPeers)); err != nil {
			return l, err
		}
	}
	web := lb.Service{VIP: netip.MustParseAddr("10.1.1.30"), Mark: vipMark,
		Backends: []netip.Addr{netip.MustParseAddr("10.1.1.31"), netip.MustParseAddr("10.1.1.32")}}
	marks, svcs := publishedSet(1)
	if err := errors.Join(d3.SetServices(ctx, mynetID, []lb.Service{web}), d3.SetServices(ctx, ingressID, svcs),
		d3.SetPublished(ctx, marks, nil)); err != nil {
		return l, err
	}
	infos, err := d3.Inspect(ctx)
	if err != nil {
		return l, err
	}
	// Same short-connection headroom everywhere a connection is tracked.
	var tracked []string
	for _, in := range infos {
		tracked = append(tracked, in.LBNetns)
	}
	tracked = append(tracked, l.nodes[2], w1, w2)
	for _, ns := range tracked {
		if err := sh(ns, "sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_timeout_time_wait=1"); err != nil {
			return l, err
		}
	}
	for _, ns := range []string{l.outside, ctr} {
		if err := sh(ns, "sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65000", "net.ipv4.tcp_tw_reuse=1"); err != nil {
			return l, err
		}
	}
	l.ctr = ctr
	return l, nil
}

// underlay plugs each namespace into a bridge in sw, with ul0 inside
// carrying its address.
func underlay(sw string, nss, addrs []string) error {
	return netns.WithHandle(sw, func(sh *netlink.Handle) error { return underlayWith(sh, sw, nss, addrs) })
}

func underlayWith(sh *netlink.Handle, sw string, nss, addrs []string) error {
	la := netlink.NewLinkAttrs()
	la.Name = "sw0"
	if err := sh.LinkAdd(&netlink.Bridge{LinkAttrs: la}); err != nil {
		return err
	}
	br, err := sh.LinkByName("sw0")
	if err != nil {
		return err
	}
	if err := sh.LinkSetUp(br); err != nil {
		return err
	}
	for i, p := range nss {
		port := fmt.Sprintf("port%d", i)
		if err := labtest.Wire(sw, port, netip.MustParsePrefix("169.254.0.1/32"), p, "ul0", netip.MustParsePrefix(addrs[i])); err != nil {
			return err
		}
		l, err := sh.LinkByName(port)
		if err != nil {
			return err
		}
		sh.AddrDel(l, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(169, 254, 0, 1), Mask: net.CIDRMask(32, 32)}})
		if err := sh.LinkSetMaster(l, br); err != nil {
			return err
		}
	}
	return nil
}

func sh(ns string, args ...string) error {
	out, err := exec.Command("nsenter", append([]string{"--net=" + ns}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func modeName(keepAlive bool) string {
	if keepAlive {
		return "keep-alive"
	}
	return "close"
}
