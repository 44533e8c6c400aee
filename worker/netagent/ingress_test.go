package netagent_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	ev "github.com/minsw/minsw/internal/eventually"
	"github.com/minsw/minsw/netdriver"
	"github.com/minsw/minsw/netdriver/ingress"
	"github.com/minsw/minsw/netdriver/netns"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/agent"
	"github.com/minsw/minsw/worker/gossip"
	"github.com/minsw/minsw/worker/netagent"
)

const ingressID = "ingr3ssn3tw0rk0000000000a"

var ingressNet = &api.Network{Id: ingressID, Spec: &api.NetworkSpec{Name: "ingress", Driver: "overlay", Ingress: true},
	Subnet: "10.0.0.0/24", Gateway: "10.0.0.1", Vni: 4096}

// meshLab is the routing mesh's topology: three node namespaces and a
// client ("outside") on one underlay switch, 192.168.78.0/24.
type meshLab struct {
	lab
	nodes  []*node
	addrs  []string // underlay address of each node
	client string   // the outside client's namespace
}

// underlaySwitch puts a bridge in its own namespace and plugs each
// namespace into it with one veth (ul0 inside) carrying its address.
func underlaySwitch(t *testing.T, dir string, nss, addrs []string) {
	t.Helper()
	sw := mkns(t, dir, "switch")
	h, err := netns.Open(sw)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	sh, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	la := netlink.NewLinkAttrs()
	la.Name = "sw0"
	if err := sh.LinkAdd(&netlink.Bridge{LinkAttrs: la}); err != nil {
		t.Fatal(err)
	}
	br, _ := sh.LinkByName("sw0")
	sh.LinkSetUp(br)
	for i, p := range nss {
		nh, err := netns.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		la := netlink.NewLinkAttrs()
		la.Name = fmt.Sprintf("port%d", i)
		err = sh.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "ul0", PeerNamespace: netlink.NsFd(int(nh))})
		if err == nil {
			l, _ := sh.LinkByName(la.Name)
			sh.LinkSetMaster(l, br)
			err = sh.LinkSetUp(l)
		}
		if err == nil {
			var in *netlink.Handle
			if in, err = netlink.NewHandleAt(nh); err == nil {
				l, _ := in.LinkByName("ul0")
				a, _ := netlink.ParseAddr(addrs[i])
				if err = in.AddrAdd(l, a); err == nil {
					err = in.LinkSetUp(l)
				}
				if lo, e := in.LinkByName("lo"); e == nil {
					in.LinkSetUp(lo)
				}
				in.Close()
			}
		}
		nh.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
}

func newMeshLab(t *testing.T) *meshLab {
	if os.Geteuid() != 0 {
		t.Skip("needs root (namespaces, links, nftables)")
	}
	dir, err := os.MkdirTemp("", "mesh")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	m := &meshLab{lab: lab{dir: dir, nsDir: filepath.Join(dir, "ns")}}
	t.Cleanup(func() { netns.Release(m.nsDir) })
	names := []string{"nodeA", "nodeB", "nodeC"}
	m.addrs = []string{"192.168.78.1", "192.168.78.2", "192.168.78.3"}
	var nss, cidrs []string
	for i, n := range names {
		nss = append(nss, mkns(t, m.nsDir, n))
		cidrs = append(cidrs, m.addrs[i]+"/24")
	}
	m.client = mkns(t, m.nsDir, "client")
	underlaySwitch(t, m.nsDir, append(nss, m.client), append(cidrs, "192.168.78.100/24"))
	ingressEPs := []string{"10.0.0.2/24", "10.0.0.3/24", "10.0.0.4/24"}
	for i, name := range names {
		v := &view{node: &api.Node{Id: name, LbAttachments: []*api.NetworkAttachment{
			{NetworkId: ingressID, Addresses: []string{ingressEPs[i]}}}},
			tasks: map[string]*api.Task{}, ch: make(chan struct{}), nets: []*api.Network{ingressNet}}
		var join *node
		if i > 0 {
			join = m.nodes[0]
		}
		m.nodes = append(m.nodes, m.startWith(t, name, nss[i], m.addrs[i], v, join))
	}
	return m
}

// startWith is lab.start with a view made by the caller.
func (l *lab) startWith(t *testing.T, name, ns, vtep string, v *view, join *node) *node {
	t.Helper()
	n := &node{name: name, ns: ns, root: filepath.Join(l.dir, name), view: v}
	cfg := netagent.DefaultConfig()
	cfg.NodeID = name
	cfg.ExecRoot = n.root
	cfg.VTEP = netip.MustParseAddr(vtep)
	cfg.UnderlayNetns = ns
	cfg.LBBackend = "auto"
	cfg.Gossip = gossip.DefaultConfig(name)
	cfg.Gossip.BindAddr = "127.0.0.1"
	cfg.Gossip.BindPort = -1
	cfg.DNSUpstreams = []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:1")}
	cfg.LBAddrWait = 5 * time.Second
	cfg.Logger = testLogger().With("node", name)
	if join != nil {
		cfg.Peers = func() []string {
			if db := join.agent.Gossip(); db != nil {
				return []string{db.LocalAddr()}
			}
			return nil
		}
	}
	a, err := netagent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.agent = a
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done = cancel, make(chan struct{})
	go func() {
		defer close(n.done)
		if err := a.Run(ctx, n.view); err != nil {
			t.Errorf("%s: run: %v", name, err)
		}
	}()
	t.Cleanup(func() { n.stop(t) })
	return n
}

// meshTask is a task of a service publishing 8080->80/tcp and
// 8081->5353/udp through the routing mesh.
func meshTask(id, node, svc string, slot uint64, addr string, ports ...*api.PortConfig) *api.Task {
	return &api.Task{Id: id, NodeId: node, ServiceId: svc + "-id", ServiceName: svc, Slot: slot,
		DesiredState: api.TaskState_TASK_STATE_RUNNING,
		Networks:     []*api.NetworkAttachment{{NetworkId: ingressID, Addresses: []string{addr + "/24"}}},
		Endpoint: &api.Endpoint{Ports: ports,
			VirtualIps: []*api.VirtualIP{{NetworkId: ingressID, Addr: "10.0.0.10/24", Fwmark: 0x120}}},
	}
}

var (
	web8080 = &api.PortConfig{Protocol: api.PortProtocol_PORT_PROTOCOL_TCP, TargetPort: 80, PublishedPort: 8080}
	udp8081 = &api.PortConfig{Protocol: api.PortProtocol_PORT_PROTOCOL_UDP, TargetPort: 5353, PublishedPort: 8081}
	host909 = &api.PortConfig{Protocol: api.PortProtocol_PORT_PROTOCOL_TCP, TargetPort: 80, PublishedPort: 9090,
		PublishMode: api.PublishMode_PUBLISH_MODE_HOST}
)

// runTask is node.run for tasks on any networks.
func (n *node) runTask(t *testing.T, tk *api.Task, nets []*api.Network) string {
	t.Helper()
	n.view.put(tk, api.TaskState_TASK_STATE_PREPARING)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	path, err := n.agent.Prepare(ctx, tk, nets)
	if err != nil {
		t.Fatalf("%s: prepare %s: %v", n.name, tk.GetId(), err)
	}
	startWhoami(t, path, agent.TaskName(tk))
	startUDPEcho(t, path, 5353, agent.TaskName(tk))
	n.view.put(tk, api.TaskState_TASK_STATE_RUNNING)
	return path
}

// startUDPEcho answers every datagram on port with name and the sender's
// address, as a tiny "hostname" UDP server.
func startUDPEcho(t *testing.T, path string, port int, name string) {
	t.Helper()
	var pc net.PacketConn
	err := netns.Do(path, func() error {
		var err error
		pc, err = net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", port))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo([]byte("Hostname: "+name+"\nRemoteAddr: "+from.String()+"\n"), from)
		}
	}()
	t.Cleanup(func() { pc.Close() })
}

// udpAsk sends one datagram from a new socket in ns and returns the
// answer's Hostname and RemoteAddr IP.
func udpAsk(ns, addr string) (string, string, error) {
	var c net.Conn
	err := netns.Do(ns, func() error {
		var err error
		c, err = net.Dial("udp4", addr)
		return err
	})
	if err != nil {
		return "", "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("who")); err != nil {
		return "", "", err
	}
	buf := make([]byte, 1500)
	k, err := c.Read(buf)
	if err != nil {
		return "", "", err
	}
	r, _, _ := net.SplitHostPort(field(string(buf[:k]), "RemoteAddr"))
	return field(string(buf[:k]), "Hostname"), r, nil
}

// get fetches url once from ns.
func get(ns, url string) (host, remote string, err error) {
	c := httpClient(ns)
	c.Timeout = 2 * time.Second
	resp, err := c.Get(url)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	b := make([]byte, 4096)
	k, _ := resp.Body.Read(b)
	r, _, _ := net.SplitHostPort(field(string(b[:k]), "RemoteAddr"))
	return field(string(b[:k]), "Hostname"), r, nil
}

// eventually retries fn until it succeeds (internal/eventually's deadline).
func eventually(t *testing.T, what string, fn func() error) {
	t.Helper()
	ev.Succeeds(t, ev.DefaultWithin, what, fn)
}

func (n *node) published(t *testing.T) []ingress.Publish {
	infos, _ := n.agent.Inspect(context.Background())
	for _, in := range infos {
		if in.Ingress != nil {
			return in.Ingress.Published
		}
	}
	return nil
}

func TestRoutingMesh(t *testing.T) {
	m := newMeshLab(t)
	a, b, c := m.nodes[0], m.nodes[1], m.nodes[2]

	t.Run("every node joins ingress without a task: sandbox, ingress_sbox, peers", func(t *testing.T) {
		for i, n := range m.nodes {
			eventually(t, n.name+" ingress", func() error {
				for _, name := range []string{netns.SandboxName(ingressID), netdriver.IngressSbox} {
					if !netns.IsNetns(filepath.Join(n.root, "netns", name)) {
						return fmt.Errorf("no %s", name)
					}
				}
				infos, _ := n.agent.Inspect(context.Background())
				var peers []string
				for _, in := range infos {
					for _, p := range in.Peers {
						peers = append(peers, p.Addr.String())
					}
				}
				slices.Sort(peers)
				want := slices.DeleteFunc([]string{"10.0.0.2", "10.0.0.3", "10.0.0.4"}, func(s string) bool { return s == fmt.Sprintf("10.0.0.%d", i+2) })
				if !slices.Equal(peers, want) {
					return fmt.Errorf("peers %v, want %v", peers, want)
				}
				return nil
			})
		}
		out, _ := exec.Command("nsenter", "--net="+filepath.Join(c.root, "netns", netdriver.IngressSbox), "ip", "-4", "-o", "addr").CombinedOutput()
		if !strings.Contains(string(out), "eth0    inet 10.0.0.4/24") || !strings.Contains(string(out), "eth1    inet 172.18.0.2/16") {
			t.Errorf("ingress_sbox addresses:\n%s", out)
		}
	})

	web1 := meshTask("mesh1taskaaaaaaaaaaaaaaaa", "nodeA", "web", 1, "10.0.0.11", web8080, udp8081)
	web2 := meshTask("mesh2taskaaaaaaaaaaaaaaaa", "nodeB", "web", 2, "10.0.0.12", web8080, udp8081)
	web1NS := a.runTask(t, web1, []*api.Network{ingressNet})
	b.runTask(t, web2, []*api.Network{ingressNet})
	names := []string{agent.TaskName(web1), agent.TaskName(web2)}
	slices.Sort(names)

	t.Run("8080/tcp through each node's address: round robin over both tasks, source the node's ingress endpoint", func(t *testing.T) {
		for i, n := range m.nodes {
			url := "http://" + m.addrs[i] + ":8080/"
			eventually(t, "first answer through "+n.name, func() error { _, _, err := get(m.client, url); return err })
			eventually(t, "both tasks through "+n.name, func() error {
				var hosts, remotes []string
				for range 4 {
					h, r, err := get(m.client, url)
					if err != nil {
						return err
					}
					hosts, remotes = append(hosts, h), append(remotes, r)
				}
				if hosts[0] == hosts[1] || hosts[0] != hosts[2] || hosts[1] != hosts[3] {
					return fmt.Errorf("hosts %v do not alternate", hosts)
				}
				for _, r := range remotes {
					if r != fmt.Sprintf("10.0.0.%d", i+2) {
						return fmt.Errorf("RemoteAddr %v, want %s's ingress endpoint", remotes, n.name)
					}
				}
				t.Logf("%s: hosts %v remote %v", url, hosts, remotes)
				return nil
			})
		}
	})

	t.Run("8081/udp through each node: both tasks answer", func(t *testing.T) {
		for i, n := range m.nodes {
			addr := m.addrs[i] + ":8081"
			eventually(t, "udp through "+n.name, func() error {
				seen := map[string]bool{}
				for range 6 {
					h, _, err := udpAsk(m.client, addr)
					if err != nil {
						return err
					}
					seen[h] = true
				}
				if len(seen) != 2 {
					return fmt.Errorf("answers from %v", seen)
				}
				return nil
			})
		}
	})

	t.Run("from a node itself: its own address and 127.0.0.1", func(t *testing.T) {
		for _, url := range []string{"http://192.168.78.3:8080/", "http://127.0.0.1:8080/"} {
			eventually(t, url+" from nodeC", func() error {
				h, _, err := get(c.ns, url)
				if err == nil && !slices.Contains(names, h) {
					err = fmt.Errorf("host %q", h)
				}
				return err
			})
		}
	})

	t.Run("from a container, through its own node's address (a hairpin on the gateway bridge)", func(t *testing.T) {
		url := "http://" + m.addrs[0] + ":8080/"
		eventually(t, url+" from web.1's container", func() error {
			h, _, err := get(web1NS, url)
			if err == nil && !slices.Contains(names, h) {
				err = fmt.Errorf("host %q", h)
			}
			return err
		})
	})

	t.Run("lb inspect ingress shows the ports, the mark and both backends", func(t *testing.T) {
		infos, err := c.agent.Inspect(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var in *netdriver.NetworkInfo
		for i := range infos {
			if infos[i].Name == "ingress" && infos[i].Ingress != nil {
				in = &infos[i]
			}
		}
		if in == nil || filepath.Base(in.LBNetns) != "ingress_sbox" {
			t.Fatalf("nodeC has no ingress network in ingress_sbox: %+v", infos)
		}
		t.Logf("nodeC ingress: %+v", *in.Ingress)
		ports := map[string]uint32{}
		for _, m := range in.Ingress.Marks {
			ports[m.Port.String()] = m.Mark
		}
		if ports["8080/tcp"] != 0x120 || ports["8081/udp"] == 0 {
			t.Errorf("published ports and marks: %v, want 8080/tcp at 0x120 and 8081/udp", ports)
		}
		var backends []string
		for _, s := range in.Services {
			if s.Mark == 0x120 {
				for _, b := range s.Backends {
					backends = append(backends, b.String())
				}
			}
		}
		slices.Sort(backends)
		if !slices.Equal(backends, []string{"10.0.0.11", "10.0.0.12"}) {
			t.Errorf("mark 0x120's backends %v, want both tasks", backends)
		}
	})

	var hostTask *api.Task
	t.Run("host mode: reached on the task's node only", func(t *testing.T) {
		hostTask = &api.Task{Id: "hosttaskaaaaaaaaaaaaaaaaa", NodeId: "nodeC", ServiceId: "h-id", ServiceName: "hostsvc", Slot: 1,
			DesiredState: api.TaskState_TASK_STATE_RUNNING, Endpoint: &api.Endpoint{Ports: []*api.PortConfig{host909}}}
		c.runTask(t, hostTask, nil)
		eventually(t, "host port on nodeC", func() error {
			h, _, err := get(m.client, "http://192.168.78.3:9090/")
			if err == nil && h != agent.TaskName(hostTask) {
				err = fmt.Errorf("host %q", h)
			}
			return err
		})
		for _, addr := range m.addrs[:2] {
			if h, _, err := get(m.client, "http://"+addr+":9090/"); err == nil {
				t.Errorf("host-mode port answered on %s by %s", addr, h)
			}
		}
		if got := a.published(t); len(got) != 2 {
			t.Errorf("nodeA publishes %v, want only the mesh's two ports", got)
		}
	})

	t.Run("removal: every rule goes from every node", func(t *testing.T) {
		c.release(t, hostTask)
		a.release(t, web1)
		b.release(t, web2)
		for i, n := range m.nodes {
			eventually(t, n.name+" unpublishes", func() error {
				if got := n.published(t); len(got) > 0 {
					return fmt.Errorf("still published %v", got)
				}
				out, _ := exec.Command("nsenter", "--net="+n.ns, "nft", "list", "tables").CombinedOutput()
				if strings.Contains(string(out), ingress.TableName) {
					return fmt.Errorf("node table left: %s", out)
				}
				out, _ = exec.Command("nsenter", "--net="+filepath.Join(n.root, "netns", netdriver.IngressSbox), "nft", "list", "tables").CombinedOutput()
				if strings.Contains(string(out), ingress.TableName) {
					return fmt.Errorf("sbox table left: %s", out)
				}
				return nil
			})
			if _, _, err := get(m.client, "http://"+m.addrs[i]+":8080/"); err == nil {
				t.Errorf("%s still answers on 8080", n.name)
			}
		}
	})

	t.Run("leaving the swarm removes ingress_sbox and the tables", func(t *testing.T) {
		for _, n := range m.nodes {
			n.stop(t)
			if names, _ := netns.List(filepath.Join(n.root, "netns")); len(names) > 0 {
				t.Errorf("%s: namespaces left: %v", n.name, names)
			}
			out, err := exec.Command("nsenter", "--net="+n.ns, "nft", "list", "tables").CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "" {
				t.Errorf("%s: nftables left: %q %v", n.name, out, err)
			}
			h, _ := netns.Open(n.ns)
			nh, _ := netlink.NewHandleAt(h)
			links, _ := nh.LinkList()
			for _, lk := range links {
				if name := lk.Attrs().Name; name != "lo" && name != "ul0" {
					t.Errorf("%s: link left: %s", n.name, name)
				}
			}
			nh.Close()
			h.Close()
		}
	})
}

var _ = errors.New
