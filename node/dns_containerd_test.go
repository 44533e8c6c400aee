package node_test

import (
	"bytes"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/vishvananda/netlink"

	"github.com/minsw/minsw/netdriver/netns"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/agent"
	"github.com/minsw/minsw/worker/executor"
)

// TestTaskDNSContainerd checks, inside real containers on an overlay, two
// things a user sees through the embedded DNS at 127.0.0.11: a task's own
// --dns server answers the names the swarm does not hold, and an
// --endpoint-mode dnsrr service resolves to its task addresses, with no VIP
// and no load-balancer entry. The --dns server is a resolver the test runs
// in the node's underlay namespace (made by the test), on 198.18.0.53, an
// address of a dummy link there that the container reaches through its
// gateway bridge; the node's own resolvers are a dead port, so an answer
// can only come from the task's server.
func TestTaskDNSContainerd(t *testing.T) {
	c := startContainerdNode(t, "minsw-dnstest")
	const server, answer = "198.18.0.53", "198.18.0.99"
	resolverNS := resolverNetns(t, c, server)
	var pc net.PacketConn
	if err := netns.Do(resolverNS, func() error {
		var err error
		pc, err = net.ListenPacket("udp", server+":53")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	asked := make(chan string, 16)
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg).SetReply(r)
		q := r.Question[0]
		select {
		case asked <- q.Name:
		default:
		}
		if q.Name == "db.lab.test." && q.Qtype == mdns.TypeA {
			m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60}, A: net.ParseIP(answer)})
		} else if q.Name != "db.lab.test." {
			m.Rcode = mdns.RcodeNameError
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })

	cli := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(binPath, append([]string{"--host", "unix://" + c.n.SocketPath()}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("minsw %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	cli("network", "create", "-d", "overlay", "mynet")
	cli("service", "create", "-d", "--name", "rr", "--endpoint-mode", "dnsrr", "--replicas", "2", "--network", "mynet", "busybox", "sleep", "3600")
	cli("service", "create", "-d", "--name", "client", "--dns", server, "--network", "mynet", "busybox", "sleep", "3600")

	running := func(service string, n int) []*minswv1.Task {
		var out []*minswv1.Task
		if !within(90*time.Second, func() bool {
			r, err := c.cl.Control.ListTasks(c.ctx, &minswv1.ListTasksRequest{})
			if err != nil {
				return false
			}
			out = out[:0]
			for _, tk := range r.GetTasks() {
				if tk.GetServiceName() == service && tk.GetStatus().GetState() == minswv1.TaskState_TASK_STATE_RUNNING {
					out = append(out, tk)
				}
			}
			return len(out) == n
		}) {
			t.Fatalf("%s: %d running tasks, want %d\n%s", service, len(out), n, cli("service", "ps", "--no-trunc", service))
		}
		return out
	}
	rrTasks := running("rr", 2)
	client := running("client", 1)[0]
	var rrIPs []string
	for _, tk := range rrTasks {
		rrIPs = append(rrIPs, strings.Split(tk.GetNetworks()[0].GetAddresses()[0], "/")[0])
		if len(tk.GetEndpoint().GetVirtualIps()) != 0 {
			t.Errorf("dnsrr task %s has VIPs %v", tk.GetId(), tk.GetEndpoint().GetVirtualIps())
		}
	}
	slices.Sort(rrIPs)
	in := func(sh string) string {
		var out, errb bytes.Buffer
		code, err := c.ex.Exec(c.ctx, agent.ContainerID(client.GetId()), executor.ExecConfig{Cmd: []string{"sh", "-c", sh}, Stdout: &out, Stderr: &errb})
		if err != nil {
			t.Fatalf("exec %q: %v", sh, err)
		}
		t.Logf("client$ %s (exit %d)\n%s%s", sh, code, out.String(), errb.String())
		return out.String()
	}

	t.Run("resolv.conf names only the embedded DNS, as docker's", func(t *testing.T) {
		rc := in("cat /etc/resolv.conf")
		if !strings.Contains(rc, "nameserver 127.0.0.11") || strings.Contains(rc, server) {
			t.Errorf("resolv.conf:\n%s", rc)
		}
	})

	t.Run("the task's --dns server answers an outside name through 127.0.0.11", func(t *testing.T) {
		var out string
		if !within(30*time.Second, func() bool {
			out = in("nslookup db.lab.test")
			return strings.Contains(out, "Address: "+answer)
		}) {
			t.Fatalf("nslookup db.lab.test:\n%s", out)
		}
		select {
		case name := <-asked:
			t.Logf("the test's resolver was asked %s", name)
		default:
			t.Error("the test's resolver was never asked")
		}
	})

	t.Run("a dnsrr service resolves to its task IPs, with no VIP", func(t *testing.T) {
		addr := regexp.MustCompile(`Address:\s+(10\.\d+\.\d+\.\d+)\s*$`)
		var got []string
		var out string
		if !within(30*time.Second, func() bool {
			out = in("nslookup rr")
			got = got[:0]
			for _, l := range strings.Split(out, "\n") {
				if m := addr.FindStringSubmatch(l); m != nil {
					got = append(got, m[1])
				}
			}
			slices.Sort(got)
			return slices.Equal(got, rrIPs)
		}) {
			t.Fatalf("nslookup rr gave %v, want the task IPs %v:\n%s", got, rrIPs, out)
		}
		if insp := cli("service", "inspect", "rr"); strings.Contains(insp, "VirtualIPs") {
			t.Errorf("service inspect rr shows VirtualIPs:\n%s", insp)
		}
	})

	t.Run("no lb entry exists for the dnsrr service", func(t *testing.T) {
		resp, err := c.cl.Networks.LBInspect(c.ctx, &minswv1.LBInspectRequest{Network: "mynet"})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range resp.GetNetworks() {
			for _, s := range n.GetServices() {
				for _, b := range s.GetBackends() {
					if slices.Contains(rrIPs, b) {
						t.Errorf("lb entry %v has a dnsrr task as backend", s)
					}
				}
			}
		}
		out := cli("lb", "inspect", "mynet")
		for _, ip := range rrIPs {
			if strings.Contains(out, ip) {
				t.Errorf("minsw lb inspect mynet shows the dnsrr task %s:\n%s", ip, out)
			}
		}
		t.Logf("minsw lb inspect mynet:\n%s", out)
	})
}

// resolverNetns makes a namespace holding addr/24 on a veth whose other end
// (.1) is in the node's underlay namespace, with its default route back
// through it, and removes it when the test ends.
func resolverNetns(t *testing.T, c *ctrdNode, addr string) string {
	t.Helper()
	dir := filepath.Join(c.dir, "res")
	path, err := netns.Create(dir, "resolver")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netns.Delete(path); netns.Release(dir) })
	h, err := netns.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	prefix := netip.MustParsePrefix(addr + "/24")
	gw := prefix.Masked().Addr().Next()
	if err := netns.Do(c.underlay, func() error {
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "dnsv0"}, PeerName: "dnsv1"}
		if err := netlink.LinkAdd(v); err != nil {
			return err
		}
		peer, err := netlink.LinkByName("dnsv1")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetNsFd(peer, int(h)); err != nil {
			return err
		}
		a, _ := netlink.ParseAddr(netip.PrefixFrom(gw, 24).String())
		if err := netlink.AddrAdd(v, a); err != nil {
			return err
		}
		return netlink.LinkSetUp(v)
	}); err != nil {
		t.Fatal(err)
	}
	if err := netns.Do(path, func() error {
		for _, name := range []string{"lo", "dnsv1"} {
			l, err := netlink.LinkByName(name)
			if err != nil {
				return err
			}
			if name == "dnsv1" {
				a, _ := netlink.ParseAddr(prefix.String())
				if err := netlink.AddrAdd(l, a); err != nil {
					return err
				}
			}
			if err := netlink.LinkSetUp(l); err != nil {
				return err
			}
		}
		return netlink.RouteAdd(&netlink.Route{Gw: gw.AsSlice()})
	}); err != nil {
		t.Fatal(err)
	}
	return path
}
