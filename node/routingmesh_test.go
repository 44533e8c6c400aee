package node_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"

	"github.com/minsw/minsw/client"
	"github.com/minsw/minsw/internal/testenv"
	"github.com/minsw/minsw/netdriver/netns"
	"github.com/minsw/minsw/node"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/executor/containerd"
	"github.com/minsw/minsw/worker/netagent"
)

// TestRoutingMeshContainerd runs one daemon with containerd and real
// networking in a namespace wired to an "outside" client namespace, creates
// a service publishing 8080->80 as `service create -p 8080:80` does, and
// reaches it from outside through the node's address; `minsw lb inspect
// ingress` shows the port; removing the service removes the rules.
func TestRoutingMeshContainerd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if testing.Short() {
		t.Skip("starts containerd")
	}
	ctrd := testenv.NewContainerd(t)
	reg := testenv.NewRegistry(t)
	testenv.PushBusybox(t, reg, "library/busybox:latest")

	dir, err := os.MkdirTemp("", "mmesh")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	nsDir := filepath.Join(dir, "ul")
	underlay, err := netns.Create(nsDir, "node1")
	if err != nil {
		t.Fatal(err)
	}
	outside, err := netns.Create(nsDir, "outside")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netns.Delete(underlay); netns.Delete(outside); netns.Release(nsDir) })
	wireUnderlay(t, underlay, "192.168.81.1/24", outside, "192.168.81.100/24")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ecfg := containerd.DefaultConfig("minsw-meshtest")
	ecfg.Address = ctrd.Address
	ecfg.RegistryMirror = reg.URL
	ecfg.InsecureRegistries = []string{reg.Host}
	ecfg.StateDir = filepath.Join(dir, "containers")
	ex, err := containerd.New(ctx, ecfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	tmpl := netagent.DefaultConfig()
	tmpl.UnderlayNetns = underlay
	tmpl.LBBackend = "auto"
	tmpl.Gossip.BindAddr = "127.0.0.1"
	_, gport, _ := net.SplitHostPort(freePort(t))
	tmpl.Gossip.BindPort, _ = strconv.Atoi(gport)
	tmpl.DNSUpstreams = []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:1")}
	execRoot := filepath.Join(dir, "run")
	n, err := node.New(node.Config{
		Hostname: "node1", DataRoot: filepath.Join(dir, "data"), ExecRoot: execRoot,
		AdvertiseAddr: "127.0.0.1", ListenAddr: freePort(t), Executor: ex, Networking: &tmpl,
		HeartbeatPeriod: time.Second, // 300 ms let a loaded machine mark the node down
		Raft:            testRaft(),
	})
	if err != nil {
		t.Fatal(err)
	}
	nctx, ncancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- n.Run(nctx) }()
	defer func() { ncancel(); <-done }()
	cl, err := client.New("unix://" + n.SocketPath())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if !within(10*time.Second, func() bool { _, err := cl.Swarm.Info(ctx, &minswv1.InfoRequest{}); return err == nil }) {
		t.Fatal("daemon did not answer")
	}
	if _, err := cl.Swarm.Init(ctx, &minswv1.InitRequest{AdvertiseAddr: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	binPath := filepath.Join(dir, "minsw")
	if out, err := exec.Command("go", "build", "-o", binPath, "github.com/minsw/minsw/cmd/minsw").CombinedOutput(); err != nil {
		t.Fatalf("build minsw: %v\n%s", err, out)
	}
	minsw := func(args ...string) (string, error) {
		out, err := exec.Command(binPath, append([]string{"--host", "unix://" + n.SocketPath()}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := minsw("service", "create", "--name", "web", "-p", "8080:80", "busybox",
		"sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"); err != nil {
		t.Fatalf("service create: %v\n%s", err, out)
	}

	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := netns.Do(outside, func() error {
				var err error
				c, err = (&net.Dialer{Timeout: time.Second}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		}}}
	fetch := func() (string, error) {
		resp, err := hc.Get("http://192.168.81.1:8080/index.html")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return strings.TrimSpace(string(b)), err
	}

	t.Run("the published port answers through the node's address", func(t *testing.T) {
		var body string
		var err error
		if !within(90*time.Second, func() bool { body, err = fetch(); return err == nil && body != "" }) {
			out, _ := minsw("lb", "inspect")
			t.Fatalf("no answer on 192.168.81.1:8080: %q %v\n%s", body, err, out)
		}
		t.Logf("answered by %s", body)
		out, err := minsw("service", "ls")
		if err != nil || !strings.Contains(out, "*:8080->80/tcp") {
			t.Errorf("service ls: %v\n%s", err, out)
		}
	})

	t.Run("minsw lb inspect ingress shows the port and its backend", func(t *testing.T) {
		out, err := minsw("lb", "inspect", "ingress")
		if err != nil || !strings.Contains(out, "*:8080/tcp") || !strings.Contains(out, "ingress_sbox mark") || !strings.Contains(out, "  -> 10.0.0.") {
			t.Errorf("lb inspect ingress: %v\n%s", err, out)
		}
		t.Logf("minsw lb inspect ingress:\n%s", out)
	})

	t.Run("network inspect minsw_gwbridge lists the ingress sandbox and the task", func(t *testing.T) {
		out, err := minsw("network", "inspect", "minsw_gwbridge")
		var got []struct {
			Containers map[string]struct{ Name, IPv4Address string }
		}
		if err != nil || json.Unmarshal([]byte(out), &got) != nil || len(got) != 1 {
			t.Fatalf("network inspect minsw_gwbridge: %v\n%s", err, out)
		}
		sbox, task := got[0].Containers["ingress-sbox"], 0
		for k, c := range got[0].Containers {
			if k != "ingress-sbox" && c.Name == "gateway_"+k[:12] && strings.HasPrefix(c.IPv4Address, "172.18.0.") {
				task++
			}
		}
		if sbox.Name != "gateway_ingress-sbox" || sbox.IPv4Address != "172.18.0.2/16" || task != 1 {
			t.Errorf("minsw_gwbridge's containers: want the ingress sandbox at 172.18.0.2/16 and web's task:\n%s", out)
		}
	})

	t.Run("service rm removes the rules", func(t *testing.T) {
		if out, err := minsw("service", "rm", "web"); err != nil {
			t.Fatalf("service rm: %v\n%s", err, out)
		}
		if !within(30*time.Second, func() bool {
			out, _ := exec.Command("nsenter", "--net="+underlay, "nft", "list", "tables").CombinedOutput()
			return !strings.Contains(string(out), "minsw_ingress")
		}) {
			out, _ := exec.Command("nsenter", "--net="+underlay, "nft", "list", "ruleset").CombinedOutput()
			t.Fatalf("node table left:\n%s", out)
		}
		if _, err := fetch(); err == nil {
			t.Error("8080 still answers after service rm")
		}
	})

	t.Run("swarm leave removes ingress_sbox and every table", func(t *testing.T) {
		if _, err := cl.Swarm.Leave(ctx, &minswv1.LeaveRequest{Force: true}); err != nil {
			t.Fatal(err)
		}
		if names, _ := netns.List(filepath.Join(execRoot, "netns")); len(names) > 0 {
			t.Errorf("namespaces left: %v", names)
		}
		out, _ := exec.Command("nsenter", "--net="+underlay, "nft", "list", "tables").CombinedOutput()
		if strings.TrimSpace(string(out)) != "" {
			t.Errorf("nftables left: %s", out)
		}
	})
}

// wireUnderlay joins two namespaces with a veth (ul0 in each) carrying
// the addresses, and sets lo up in both.
func wireUnderlay(t *testing.T, a, addrA, b, addrB string) {
	t.Helper()
	ha, err := netns.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer ha.Close()
	hb, err := netns.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer hb.Close()
	la := netlink.NewLinkAttrs()
	la.Name = "ul0"
	la.Namespace = netlink.NsFd(int(ha))
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "ul0", PeerNamespace: netlink.NsFd(int(hb))}); err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		ns   vnetns.NsHandle
		addr string
	}{{ha, addrA}, {hb, addrB}} {
		h, err := netlink.NewHandleAt(x.ns)
		if err != nil {
			t.Fatal(err)
		}
		l, err := h.LinkByName("ul0")
		if err == nil {
			ad, _ := netlink.ParseAddr(x.addr)
			err = h.AddrAdd(l, ad)
		}
		if err == nil {
			err = h.LinkSetUp(l)
		}
		if lo, e := h.LinkByName("lo"); e == nil {
			h.LinkSetUp(lo)
		}
		h.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
}
