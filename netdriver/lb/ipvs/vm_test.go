//go:build ipvsvm

// The data-plane replay of the seed through the ipvs backend. It needs a
// kernel with IPVS and root, so it runs inside the VM that vmtest/run.sh
// boots; the build tag keeps it out of the host's `go test ./...`.

package ipvs

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	mobyipvs "github.com/moby/ipvs"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/minsw/minsw/netdriver/lb"
)

// The seed's addresses: mynet 10.0.1.0/24, web VIP .30 (mark 0x106) with
// tasks .31 and .32, client VIP .35 (mark 0x107) with task .36, and the lb
// endpoint .37. web.3 (.33) is the task a scale-up adds.
var (
	lbEndpoint = ip("10.0.1.37")
	webVIP     = ip("10.0.1.30")
	clientVIP  = ip("10.0.1.35")
	web1       = ip("10.0.1.31")
	web2       = ip("10.0.1.32")
	web3       = ip("10.0.1.33")
	clientIP   = ip("10.0.1.36")
)

func seedServices() []lb.Service {
	return []lb.Service{
		{VIP: webVIP, Mark: 0x106, Backends: []netip.Addr{web1, web2}},
		{VIP: clientVIP, Mark: 0x107, Backends: []netip.Addr{clientIP}},
	}
}

// lab is one node's slice of mynet: a bridge namespace (as 1-<netid>), the
// lb namespace, three whoami tasks and a client, each in its own namespace
// with eth0 on the bridge.
type lab struct {
	dir    string
	bridge string // namespace paths
	lb     string
	client string
}

func newLab(t *testing.T) *lab {
	t.Helper()
	l := &lab{dir: t.TempDir()}
	l.bridge = newNS(t, l.dir, "1-mynet")
	l.lb = newNS(t, l.dir, "lb_mynet")
	l.client = newNS(t, l.dir, "client.1")
	bh := handleAt(t, l.bridge)
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}
	must(t, bh.LinkAdd(br))
	must(t, bh.LinkSetUp(br))
	l.attach(t, bh, l.lb, "veth-lb", lbEndpoint, webVIP, clientVIP)
	// The lb namespace forwards back out of the interface it received on;
	// the overlay turns redirects off there, and so does this lab.
	must(t, inNS(l.lb, func() error {
		for _, k := range []string{"all", "default", "eth0"} {
			if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+k+"/send_redirects", []byte("0"), 0o644); err != nil {
				return err
			}
		}
		return nil
	}))
	l.attach(t, bh, l.client, "veth-client", clientIP)
	for i, a := range []netip.Addr{web1, web2, web3} {
		name := fmt.Sprintf("web.%d", i+1)
		ns := newNS(t, l.dir, name)
		l.attach(t, bh, ns, "veth-"+name[4:], a)
		startWhoami(t, ns, name)
	}
	return l
}

// attach gives namespace ns an eth0 on br0 with addrs[0]/24 (MAC derived
// from it, as Docker does) and each further address as a /32.
func (l *lab) attach(t *testing.T, bh *netlink.Handle, ns, host string, addrs ...netip.Addr) {
	t.Helper()
	fd, err := netns.GetFromPath(ns)
	must(t, err)
	defer fd.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: host, MTU: 1450}, PeerName: "eth0",
		PeerNamespace: netlink.NsFd(int(fd))}
	must(t, bh.LinkAdd(veth))
	br, err := bh.LinkByName("br0")
	must(t, err)
	must(t, bh.LinkSetMaster(veth, br))
	must(t, bh.LinkSetUp(veth))
	h := handleAt(t, ns)
	eth0, err := h.LinkByName("eth0")
	must(t, err)
	a4 := addrs[0].As4()
	must(t, h.LinkSetHardwareAddr(eth0, net.HardwareAddr{0x02, 0x42, a4[0], a4[1], a4[2], a4[3]}))
	for i, a := range addrs {
		bits := 32
		if i == 0 {
			bits = 24
		}
		addr, err := netlink.ParseAddr(netip.PrefixFrom(a, bits).String())
		must(t, err)
		must(t, h.AddrAdd(eth0, addr))
	}
	must(t, h.LinkSetUp(eth0))
	lo, err := h.LinkByName("lo")
	must(t, err)
	must(t, h.LinkSetUp(lo))
}

// get asks url from the client namespace on a new connection, as each
// `curl web` in the seed does, and returns the whoami answer.
func (l *lab) get(t *testing.T, url string) whoami {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var conn net.Conn
			err := inNS(l.client, func() error {
				var err error
				conn, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return conn, err
		},
	}}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	must(t, err)
	req.Host = "web" // as `curl web` sends it
	req.Header.Set("User-Agent", "curl/7.69.1")
	req.Header.Set("Accept", "*/*")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("curl %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(t, err)
	return parseWhoami(string(body))
}

// ping sends one ICMP echo from the client namespace and returns who
// answered.
func (l *lab) ping(t *testing.T, to netip.Addr, seq int) (netip.Addr, time.Duration) {
	t.Helper()
	var from netip.Addr
	var rtt time.Duration
	must(t, inNS(l.client, func() error {
		c, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		if err != nil {
			return err
		}
		defer c.Close()
		msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: 0x5eed, Seq: seq, Data: []byte("minsw")}}
		wb, err := msg.Marshal(nil)
		if err != nil {
			return err
		}
		start := time.Now()
		if _, err := c.WriteTo(wb, &net.IPAddr{IP: to.AsSlice()}); err != nil {
			return err
		}
		rb := make([]byte, 1500)
		for {
			if err := c.SetReadDeadline(time.Now().Add(3 * time.Second)); err != nil {
				return err
			}
			n, peer, err := c.ReadFrom(rb)
			if err != nil {
				return fmt.Errorf("ping %v: %w", to, err)
			}
			m, err := icmp.ParseMessage(1, rb[:n])
			if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
				continue
			}
			if e, ok := m.Body.(*icmp.Echo); !ok || e.ID != 0x5eed || e.Seq != seq {
				continue
			}
			rtt = time.Since(start)
			from, _ = netip.AddrFromSlice(peer.(*net.IPAddr).IP.To4())
			return nil
		}
	}))
	return from, rtt
}

type whoami struct{ Hostname, RemoteAddr, Raw string }

func parseWhoami(s string) whoami {
	w := whoami{Raw: s}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ": ")
		switch k {
		case "Hostname":
			w.Hostname = v
		case "RemoteAddr":
			w.RemoteAddr = v
		}
	}
	return w
}

// startWhoami serves, on port 80 of namespace ns, what containous/whoami
// answers: hostname, the interface addresses, RemoteAddr and the request.
func startWhoami(t *testing.T, ns, hostname string) {
	t.Helper()
	var ln net.Listener
	var ips []string
	must(t, inNS(ns, func() error {
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if p, ok := a.(*net.IPNet); ok && p.IP.To4() != nil {
				ips = append(ips, p.IP.String())
			}
		}
		ln, err = net.Listen("tcp4", ":80")
		return err
	}))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Hostname: %s\n", hostname)
		for _, a := range ips {
			fmt.Fprintf(w, "IP: %s\n", a)
		}
		fmt.Fprintf(w, "RemoteAddr: %s\n", r.RemoteAddr)
		fmt.Fprintf(w, "%s %s %s\n", r.Method, r.URL.RequestURI(), r.Proto)
		fmt.Fprintf(w, "Host: %s\n", r.Host)
		for _, k := range slices.Sorted(maps.Keys(r.Header)) {
			fmt.Fprintf(w, "%s: %s\n", k, strings.Join(r.Header[k], ","))
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// TestCurlWebAlternatesBetweenTwoTasks replays the seed: from the client,
// `curl web` four times; the answers alternate between web.1 and web.2 and
// each sees the lb endpoint as RemoteAddr.
func TestCurlWebAlternatesBetweenTwoTasks(t *testing.T) {
	l := newLab(t)
	b, err := New(l.lb, lbEndpoint)
	must(t, err)
	defer b.Close()
	must(t, b.Apply(seedServices(), nil))

	var hosts []string
	for i := range 4 {
		w := l.get(t, "http://10.0.1.30/")
		if i < 2 {
			t.Logf("/ # curl web\n%s", w.Raw)
		}
		hosts = append(hosts, w.Hostname)
		host, _, err := net.SplitHostPort(w.RemoteAddr)
		if err != nil || host != lbEndpoint.String() {
			t.Errorf("RemoteAddr %q, want the lb endpoint %v", w.RemoteAddr, lbEndpoint)
		}
	}
	if hosts[0] == hosts[1] || hosts[0] != hosts[2] || hosts[1] != hosts[3] ||
		!slices.Contains(hosts[:2], "web.1") || !slices.Contains(hosts[:2], "web.2") {
		t.Errorf("answers came from %v, want web.1 and web.2 alternating", hosts)
	}
	t.Logf("four requests answered by %v", hosts)

	got, err := b.Services()
	must(t, err)
	if want := seedServices(); !reflect.DeepEqual(got, want) {
		t.Errorf("Services() = %v, want %v", got, want)
	}
	// `ping web`: the lb namespace itself answers for the VIP, IPVS only
	// balances TCP, UDP and SCTP.
	for seq := range 2 {
		from, rtt := l.ping(t, webVIP, seq)
		if from != webVIP {
			t.Errorf("ping 10.0.1.30: reply from %v", from)
		}
		t.Logf("64 bytes from %v: seq=%d time=%v", from, seq, rtt.Round(time.Microsecond))
	}
	ipvsadm(t, l.lb)
	procNetIPVS(t, l.lb)
	nftView(t, l.lb)
	sysctls(t, l.lb)
}

// TestScaleWebKeepsOtherBackendsConnections removes web.2 and then adds
// web.3: traffic follows, and web.1's IPVS counters are never reset, which
// they would be if Apply rebuilt the service.
func TestScaleWebKeepsOtherBackendsConnections(t *testing.T) {
	l := newLab(t)
	b, err := New(l.lb, lbEndpoint)
	must(t, err)
	defer b.Close()
	must(t, b.Apply(seedServices(), nil))
	for range 4 {
		l.get(t, "http://10.0.1.30/")
	}
	before := destConns(t, l.lb, 0x106, web1)
	if before != 2 {
		t.Errorf("web.1 took %d of 4 connections, want 2", before)
	}

	must(t, b.Apply([]lb.Service{{VIP: webVIP, Mark: 0x106, Backends: []netip.Addr{web1}}}, nil))
	for range 2 {
		if w := l.get(t, "http://10.0.1.30/"); w.Hostname != "web.1" {
			t.Errorf("after web.2 stopped, answer from %q", w.Hostname)
		}
	}
	if n := destConns(t, l.lb, 0x106, web1); n != before+2 {
		t.Errorf("web.1 counted %d connections after removing web.2, want %d (kept, not reset)", n, before+2)
	}

	must(t, b.Apply([]lb.Service{{VIP: webVIP, Mark: 0x106, Backends: []netip.Addr{web1, web3}}}, nil))
	seen := map[string]int{}
	for range 4 {
		seen[l.get(t, "http://10.0.1.30/").Hostname]++
	}
	if seen["web.1"] != 2 || seen["web.3"] != 2 {
		t.Errorf("after adding web.3 answers %v, want web.1 and web.3 twice each", seen)
	}
	if n := destConns(t, l.lb, 0x106, web1); n != before+4 {
		t.Errorf("web.1 counted %d connections after adding web.3, want %d", n, before+4)
	}
	ipvsadm(t, l.lb)
}

// TestDrainingBackendKeepsItsConnections withdraws web.2 as a task told to
// stop is withdrawn: new connections all go to web.1, while a keep-alive
// connection already on web.2 goes on being answered by web.2 until the
// backend is removed (its container stopped). IPVS's idle TCP timeout is
// conntrack's, not 15 minutes (moby#31208).
func TestDrainingBackendKeepsItsConnections(t *testing.T) {
	l := newLab(t)
	b, err := New(l.lb, lbEndpoint)
	must(t, err)
	defer b.Close()
	must(t, b.Apply(seedServices(), nil))

	// Two keep-alive connections: round robin puts one on each task.
	var onWeb2 *keepAlive
	for range 2 {
		c := l.dialKeepAlive(t, "10.0.1.30:80")
		defer c.Close()
		if h, err := c.ask(); err != nil {
			t.Fatalf("first request on a keep-alive connection: %v", err)
		} else if h == "web.2" {
			onWeb2 = c
		}
	}
	if onWeb2 == nil {
		t.Fatal("no keep-alive connection landed on web.2")
	}

	drain := []lb.Service{{VIP: webVIP, Mark: 0x106, Backends: []netip.Addr{web1}, Draining: []netip.Addr{web2}},
		{VIP: clientVIP, Mark: 0x107, Backends: []netip.Addr{clientIP}}}
	must(t, b.Apply(drain, nil))
	got, err := b.Services()
	must(t, err)
	if !reflect.DeepEqual(got, drain) {
		t.Errorf("Services() = %v, want %v", got, drain)
	}
	for range 4 {
		if w := l.get(t, "http://10.0.1.30/"); w.Hostname != "web.1" {
			t.Errorf("a new connection while web.2 drains was answered by %q", w.Hostname)
		}
	}
	for i := range 3 {
		h, err := onWeb2.ask()
		if err != nil || h != "web.2" {
			t.Fatalf("request %d on the established connection to draining web.2: %q, %v", i+1, h, err)
		}
	}
	ipvsadm(t, l.lb)

	must(t, b.Apply([]lb.Service{{VIP: webVIP, Mark: 0x106, Backends: []netip.Addr{web1}}}, nil))
	got, err = b.Services()
	must(t, err)
	if len(got) != 2 || len(got[0].Draining) != 0 || !slices.Equal(got[0].Backends, []netip.Addr{web1}) {
		t.Errorf("after removal Services() = %v", got)
	}

	h, err := mobyipvs.New(l.lb)
	must(t, err)
	defer h.Close()
	cfg, err := h.GetConfig()
	must(t, err)
	if cfg.TimeoutTCP != IdleTCPTimeout {
		t.Errorf("IPVS idle TCP timeout %v, want %v", cfg.TimeoutTCP, IdleTCPTimeout)
	}
	t.Logf("# ipvsadm -l --timeout\nTimeout (tcp tcpfin udp): %.0f %.0f %.0f",
		cfg.TimeoutTCP.Seconds(), cfg.TimeoutTCPFin.Seconds(), cfg.TimeoutUDP.Seconds())
}

// keepAlive is one persistent HTTP/1.1 connection from the client.
type keepAlive struct {
	net.Conn
	r *bufio.Reader
}

func (l *lab) dialKeepAlive(t *testing.T, addr string) *keepAlive {
	t.Helper()
	var c net.Conn
	must(t, inNS(l.client, func() error {
		var err error
		c, err = net.DialTimeout("tcp4", addr, 5*time.Second)
		return err
	}))
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
	if err != nil {
		return "", err
	}
	return parseWhoami(string(body)).Hostname, nil
}

// TestRestartAdoptsWithoutDuplicates opens a second backend on a namespace
// a first one programmed and never closed, as a restarted daemon does.
func TestRestartAdoptsWithoutDuplicates(t *testing.T) {
	l := newLab(t)
	first, err := New(l.lb, lbEndpoint)
	must(t, err)
	must(t, first.Apply(seedServices(), nil))
	first.release() // a crash: handles gone, kernel objects stay

	b, err := New(l.lb, lbEndpoint)
	must(t, err)
	defer b.Close()
	got, err := b.Services()
	must(t, err)
	if want := seedServices(); !reflect.DeepEqual(got, want) {
		t.Errorf("adopted %v, want %v", got, want)
	}
	must(t, b.Apply(seedServices(), nil))
	c := nftIn(t, l.lb)
	tbl := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName}
	for _, chain := range []string{inputChain, postChain} {
		rules, err := c.GetRules(tbl, &nftables.Chain{Name: chain, Table: tbl})
		must(t, err)
		if len(rules) != 1 {
			t.Errorf("chain %s holds %d rules, want 1", chain, len(rules))
		}
	}
	hosts := map[string]bool{}
	for range 2 {
		hosts[l.get(t, "http://10.0.1.30/").Hostname] = true
	}
	if len(hosts) != 2 {
		t.Errorf("after restart answers from %v, want two tasks", hosts)
	}
}

// TestVIPMovesToAnotherMark re-creates web under a new mark in one call:
// the VIP map element is replaced (in two transactions) and traffic follows.
func TestVIPMovesToAnotherMark(t *testing.T) {
	l := newLab(t)
	b, err := New(l.lb, lbEndpoint)
	must(t, err)
	defer b.Close()
	must(t, b.Apply(seedServices(), nil))
	moved := lb.Service{VIP: webVIP, Mark: 0x200, Backends: []netip.Addr{web3}}
	must(t, b.Apply([]lb.Service{moved}, []uint32{0x106}))
	for range 2 {
		if w := l.get(t, "http://10.0.1.30/"); w.Hostname != "web.3" {
			t.Errorf("after the move answer from %q, want web.3", w.Hostname)
		}
	}
	got, err := b.Services()
	must(t, err)
	if want := []lb.Service{seedServices()[1], moved}; !reflect.DeepEqual(got, want) {
		t.Errorf("Services() = %v, want %v", got, want)
	}
}

// TestRemoveServiceAndClose checks that removing a service and closing the
// backend leave no IPVS service and no nftables table behind.
func TestRemoveServiceAndClose(t *testing.T) {
	l := newLab(t)
	b, err := New(l.lb, lbEndpoint)
	must(t, err)
	must(t, b.Apply(seedServices(), nil))
	must(t, b.Apply(nil, []uint32{0x107}))
	got, err := b.Services()
	must(t, err)
	if len(got) != 1 || got[0].Mark != 0x106 {
		t.Errorf("after removing client: %v, want only mark 0x106", got)
	}
	must(t, b.Close())
	must(t, b.Close()) // twice is harmless

	h, err := mobyipvs.New(l.lb)
	must(t, err)
	defer h.Close()
	svcs, err := h.GetServices()
	must(t, err)
	if len(svcs) != 0 {
		t.Errorf("after Close IPVS holds %d services", len(svcs))
	}
	tables, err := nftIn(t, l.lb).ListTables()
	must(t, err)
	for _, tb := range tables {
		t.Errorf("after Close nftables holds table %s", tb.Name)
	}
	if err := b.Apply(seedServices(), nil); err == nil {
		t.Error("Apply after Close succeeded")
	}
}

// TestProgramThousandServices times programming 1,000 services with 10
// backends each from empty, and one backend change with all present. The
// VM emulates its CPU, so the figures are upper bounds of real hardware.
func TestProgramThousandServices(t *testing.T) {
	dir := t.TempDir()
	ns := newNS(t, dir, "lb_bench")
	// IPVS refuses a destination whose address type is not unicast in the
	// namespace's routing; with no address at all there is no local table
	// and every address looks like broadcast. Real lb namespaces have
	// addresses; here lo up is enough.
	h := handleAt(t, ns)
	lo, err := h.LinkByName("lo")
	must(t, err)
	must(t, h.LinkSetUp(lo))
	const nsvc, nb = 1000, 10
	var set []lb.Service
	for i := range nsvc {
		s := lb.Service{VIP: netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)}), Mark: uint32(0x1000 + i)}
		for j := range nb {
			n := i*nb + j
			s.Backends = append(s.Backends, netip.AddrFrom4([4]byte{10, 3, byte(n >> 8), byte(n)}))
		}
		set = append(set, s)
	}
	b, err := New(ns, ip("10.2.255.254"))
	must(t, err)
	defer b.Close()
	start := time.Now()
	must(t, b.Apply(set, nil))
	program := time.Since(start)

	one := set[500]
	one.Backends = append(slices.Clone(one.Backends), ip("10.4.0.1"))
	start = time.Now()
	must(t, b.Apply([]lb.Service{one}, nil))
	add := time.Since(start)
	start = time.Now()
	must(t, b.Apply([]lb.Service{set[500]}, nil))
	del := time.Since(start)

	start = time.Now()
	got, err := b.Services()
	must(t, err)
	read := time.Since(start)
	if !reflect.DeepEqual(got, set) {
		t.Errorf("Services() read back %d services, not the %d applied", len(got), len(set))
	}
	start = time.Now()
	must(t, b.Close())
	closing := time.Since(start)
	t.Logf("BENCH ipvs (emulated CPU): program %d services x %d backends from empty: %v; "+
		"add one backend: %v; remove one backend: %v; read back all: %v; close: %v",
		nsvc, nb, program.Round(time.Millisecond), add.Round(time.Microsecond),
		del.Round(time.Microsecond), read.Round(time.Millisecond), closing.Round(time.Millisecond))
}

// destConns returns how many connections IPVS holds for backend addr of
// the service with mark (ActiveConn + InActConn: closed ones stay counted
// for TIME_WAIT, minutes longer than the test).
func destConns(t *testing.T, ns string, mark uint32, addr netip.Addr) uint32 {
	t.Helper()
	h, err := mobyipvs.New(ns)
	must(t, err)
	defer h.Close()
	dsts, err := h.GetDestinations(fwmarkService(mark))
	must(t, err)
	for _, d := range dsts {
		if d.Address.Equal(net.IP(addr.AsSlice())) {
			return uint32(d.ActiveConnections + d.InactiveConnections)
		}
	}
	t.Fatalf("FWM %d has no destination %v", mark, addr)
	return 0
}

// ipvsadm logs what `ipvsadm -ln` shows in the namespace.
func ipvsadm(t *testing.T, ns string) {
	t.Helper()
	h, err := mobyipvs.New(ns)
	must(t, err)
	defer h.Close()
	svcs, err := h.GetServices()
	must(t, err)
	slices.SortFunc(svcs, func(a, b *mobyipvs.Service) int { return int(a.FWMark) - int(b.FWMark) })
	var sb strings.Builder
	sb.WriteString("# ipvsadm -ln\nProt LocalAddress:Port Scheduler Flags\n")
	sb.WriteString("  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")
	for _, s := range svcs {
		fmt.Fprintf(&sb, "FWM  %d %s\n", s.FWMark, s.SchedName)
		dsts, err := h.GetDestinations(s)
		must(t, err)
		for _, d := range dsts {
			fwd := map[uint32]string{0: "Masq", 1: "Local", 2: "Tunnel", 3: "Route"}[d.ConnectionFlags&7]
			fmt.Fprintf(&sb, "  -> %-28s %-7s %-6d %-10d %d\n", fmt.Sprintf("%s:%d", d.Address, d.Port),
				fwd, d.Weight, d.ActiveConnections, d.InactiveConnections)
		}
	}
	t.Log(sb.String())
}

// procNetIPVS logs /proc/net/ip_vs as the lb namespace sees it.
func procNetIPVS(t *testing.T, ns string) {
	t.Helper()
	var b []byte
	must(t, inNS(ns, func() error {
		var err error
		b, err = os.ReadFile("/proc/thread-self/net/ip_vs")
		return err
	}))
	t.Logf("# cat /proc/net/ip_vs\n%s", b)
	if !strings.Contains(string(b), "FWM  00000106 rr") || !strings.Contains(string(b), "-> 0A00011F:0000      Masq    1") {
		t.Errorf("/proc/net/ip_vs lacks FWM 262 rr -> 10.0.1.31:0 Masq 1")
	}
}

// nftView logs the backend's nftables objects, as `nft list table ip
// minsw_ipvs` would summarise them, and checks the VIP map.
func nftView(t *testing.T, ns string) {
	t.Helper()
	c := nftIn(t, ns)
	o := newNFTObjects()
	vips, marks, err := o.read(c)
	must(t, err)
	var sb strings.Builder
	fmt.Fprintf(&sb, "# nft list table ip %s (summary)\n  map %s {", TableName, vipMapName)
	for _, m := range slices.Sorted(maps.Keys(vips)) {
		fmt.Fprintf(&sb, " %v : 0x%x", vips[m], m)
	}
	fmt.Fprintf(&sb, " }\n  set %s {", markSetName)
	for _, m := range slices.Sorted(maps.Keys(marks)) {
		fmt.Fprintf(&sb, " 0x%x", m)
	}
	sb.WriteString(" }\n")
	for _, ch := range []*nftables.Chain{o.input, o.post} {
		rules, err := c.GetRules(o.table, ch)
		must(t, err)
		fmt.Fprintf(&sb, "  chain %s: %d rule(s)\n", ch.Name, len(rules))
	}
	t.Log(sb.String())
	if vips[0x106] != webVIP || vips[0x107] != clientVIP || !marks[0x106] || !marks[0x107] {
		t.Errorf("nftables holds VIPs %v and marks %v, want the seed's", vips, marks)
	}
}

// sysctls checks the settings New makes in the lb namespace.
func sysctls(t *testing.T, ns string) {
	t.Helper()
	must(t, inNS(ns, func() error {
		for _, s := range lbSysctls {
			b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(s.Key, ".", "/"))
			if err != nil {
				return err
			}
			if got := strings.TrimSpace(string(b)); got != s.Value {
				t.Errorf("sysctl %s = %s, want %s", s.Key, got, s.Value)
			}
		}
		return nil
	}))
}

// newNS makes a network namespace and pins it to the file dir/name, as
// the netdriver pins lb_<id> under the exec root.
func newNS(t *testing.T, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	must(t, err)
	f.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies in the new namespace
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- unix.Mount(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), path, "", unix.MS_BIND, "")
	}()
	must(t, <-errc)
	t.Cleanup(func() {
		_ = unix.Unmount(path, unix.MNT_DETACH)
		_ = os.Remove(path)
	})
	return path
}

// inNS runs fn on a thread inside the namespace at path; the thread is
// discarded afterwards.
func inNS(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		ns, err := netns.GetFromPath(path)
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

func handleAt(t *testing.T, path string) *netlink.Handle {
	t.Helper()
	ns, err := netns.GetFromPath(path)
	must(t, err)
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE) // the kernel has no xfrm
	must(t, err)
	t.Cleanup(h.Close)
	return h
}

func nftIn(t *testing.T, path string) *nftables.Conn {
	t.Helper()
	ns, err := netns.GetFromPath(path)
	must(t, err)
	t.Cleanup(func() { ns.Close() })
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	must(t, err)
	return c
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
