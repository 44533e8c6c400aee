package node_test

import (
	"bytes"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/minsw/minsw/netdriver/netns"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/agent"
	"github.com/minsw/minsw/worker/executor"
)

// TestTaskNetworkingContainerd runs one daemon in-process with the
// containerd executor and real task networking (its underlay is a
// namespace of the test's), creates the seed's network and a service on
// it, and checks what a user would inside the task: eth0 with the task's
// IP, /etc/resolv.conf on the embedded DNS, the service name resolving to
// its VIP, the lb namespace holding the VIP with the task as backend, and
// nothing left after `swarm leave`.
func TestTaskNetworkingContainerd(t *testing.T) {
	c := startContainerdNode(t, "minsw-nettest")
	ctx, cl, ex, execRoot, underlay := c.ctx, c.cl, c.ex, c.execRoot, c.underlay
	netResp, err := cl.Control.CreateNetwork(ctx, &minswv1.CreateNetworkRequest{Spec: &minswv1.NetworkSpec{Name: "mynet", Driver: "overlay"}})
	if err != nil {
		t.Fatal(err)
	}
	netID := netResp.GetNetwork().GetId()
	one := uint64(1)
	_, err = cl.Control.CreateService(ctx, &minswv1.CreateServiceRequest{Spec: &minswv1.ServiceSpec{
		Name: "web",
		Task: &minswv1.TaskSpec{
			Container: &minswv1.ContainerSpec{Image: "busybox", Command: []string{"sleep", "3600"}},
			Networks:  []*minswv1.NetworkAttachmentConfig{{Target: netID}},
		},
		Mode: &minswv1.ServiceSpec_Replicated{Replicated: &minswv1.ReplicatedService{Replicas: one}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var task *minswv1.Task
	if !within(60*time.Second, func() bool {
		r, err := cl.Control.ListTasks(ctx, &minswv1.ListTasksRequest{})
		if err != nil {
			return false
		}
		for _, tk := range r.GetTasks() {
			if tk.GetStatus().GetState() == minswv1.TaskState_TASK_STATE_RUNNING {
				task = tk
				return true
			}
		}
		return false
	}) {
		r, _ := cl.Control.ListTasks(ctx, &minswv1.ListTasksRequest{})
		t.Fatalf("no running task: %v", r.GetTasks())
	}
	taskIP := strings.Split(task.GetNetworks()[0].GetAddresses()[0], "/")[0]
	vip := strings.Split(task.GetEndpoint().GetVirtualIps()[0].GetAddr(), "/")[0]
	cid := agent.ContainerID(task.GetId())
	nsPath := filepath.Join(execRoot, "netns", cid[:12])
	t.Logf("task %s ip %s vip %s netns %s", task.GetId(), taskIP, vip, nsPath)

	t.Run("the container has eth0 with the task's IP and the embedded DNS", func(t *testing.T) {
		var out, errb bytes.Buffer
		code, err := ex.Exec(ctx, cid, executor.ExecConfig{Cmd: []string{"sh", "-c", "ip -4 -o addr; cat /etc/resolv.conf"}, Stdout: &out, Stderr: &errb})
		if err != nil || code != 0 {
			t.Fatalf("exec: %d %v\n%s%s", code, err, out.String(), errb.String())
		}
		if !strings.Contains(out.String(), "eth0") || !strings.Contains(out.String(), "inet "+taskIP+"/24") {
			t.Errorf("no eth0 with %s:\n%s", taskIP, out.String())
		}
		if !strings.Contains(out.String(), "nameserver 127.0.0.11") {
			t.Errorf("resolv.conf:\n%s", out.String())
		}
		t.Logf("inside the task:\n%s", out.String())
		// As in Docker, no IPv6 in the task: whoami lists IPv4 lines only.
		out.Reset()
		if code, err := ex.Exec(ctx, cid, executor.ExecConfig{Cmd: []string{"ip", "-6", "-o", "addr"}, Stdout: &out, Stderr: &errb}); err != nil || code != 0 {
			t.Fatalf("exec ip -6: %d %v", code, err)
		}
		if strings.TrimSpace(out.String()) != "" {
			t.Errorf("the task has IPv6 addresses:\n%s", out.String())
		}
	})

	t.Run("the service name resolves to its VIP inside the task", func(t *testing.T) {
		var got []string
		ok := within(10*time.Second, func() bool {
			got = lookupIn(t, nsPath, "web")
			return len(got) == 1 && got[0] == vip
		})
		if !ok {
			t.Fatalf("web -> %v, want %s", got, vip)
		}
		var out, errb bytes.Buffer
		code, err := ex.Exec(ctx, cid, executor.ExecConfig{Cmd: []string{"nslookup", "web", "127.0.0.11"}, Stdout: &out, Stderr: &errb})
		t.Logf("nslookup web (exit %d, %v):\n%s", code, err, out.String())
		if !strings.Contains(out.String(), vip) {
			t.Errorf("nslookup in the container does not show %s", vip)
		}
	})

	t.Run("lb inspect shows the VIP with the task as backend", func(t *testing.T) {
		var resp *minswv1.LBInspectResponse
		ok := within(10*time.Second, func() bool {
			var err error
			resp, err = cl.Networks.LBInspect(ctx, &minswv1.LBInspectRequest{Network: "mynet"})
			if err != nil || len(resp.GetNetworks()) != 1 {
				return false
			}
			for _, s := range resp.GetNetworks()[0].GetServices() {
				if s.GetVip() == vip && len(s.GetBackends()) == 1 && s.GetBackends()[0] == taskIP {
					return true
				}
			}
			return false
		})
		if !ok {
			t.Fatalf("lb inspect: %v", resp)
		}
		t.Logf("backend %s (%s): %v", resp.GetBackend(), resp.GetBackendReason(), resp.GetNetworks()[0].GetServices())
		out, err := exec.Command(binPath, "--host", "unix://"+c.n.SocketPath(), "lb", "inspect", "mynet").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "(VIP "+vip+", mark ") || !strings.Contains(string(out), "  -> "+taskIP+":0") {
			t.Errorf("minsw lb inspect mynet: %v\n%s", err, out)
		}
		t.Logf("minsw lb inspect mynet:\n%s", out)
	})

	t.Run("the node's own network view names its peers by hostname", func(t *testing.T) {
		checkPeersByHostname(t, ctx, cl, "node1")
	})

	t.Run("a service on --network host runs in the node's namespace", func(t *testing.T) {
		checkHostNetwork(t, c)
	})

	t.Run("a restarted daemon adopts the task's networking", func(t *testing.T) {
		c.stop()
		c.start()
		start := time.Now()
		ok := within(30*time.Second, func() bool {
			resp, err := cl.Networks.LBInspect(ctx, &minswv1.LBInspectRequest{Network: "mynet"})
			if err != nil || len(resp.GetNetworks()) != 1 || len(resp.GetNetworks()[0].GetServices()) != 1 {
				return false
			}
			s := resp.GetNetworks()[0].GetServices()[0]
			got := lookupIn(t, nsPath, "web")
			return s.GetVip() == vip && len(s.GetBackends()) == 1 && s.GetBackends()[0] == taskIP && len(got) == 1 && got[0] == vip
		})
		if !ok {
			t.Fatal("after a restart the lb or DNS did not come back")
		}
		t.Logf("lb and DNS back %v after the restart", time.Since(start))
		// The task's, mynet's 1- and lb_, and the routing mesh's 1- and
		// ingress_sbox (every node holds those, task or no task).
		if names, _ := netns.List(filepath.Join(execRoot, "netns")); len(names) != 5 || !slices.Contains(names, "ingress_sbox") {
			t.Errorf("namespaces after restart: %v (want the task's, 1- and lb_ of mynet, 1- and ingress_sbox of ingress)", names)
		}
	})

	t.Run("swarm leave removes every namespace and link", func(t *testing.T) {
		if _, err := cl.Swarm.Leave(ctx, &minswv1.LeaveRequest{Force: true}); err != nil {
			t.Fatal(err)
		}
		if names, _ := netns.List(filepath.Join(execRoot, "netns")); len(names) > 0 {
			t.Errorf("namespaces left: %v", names)
		}
		out, _ := exec.Command("nsenter", "--net="+underlay, "ip", "-o", "link").CombinedOutput()
		if lines := strings.Count(strings.TrimSpace(string(out)), "\n") + 1; lines != 1 {
			t.Errorf("links left in the node's namespace:\n%s", out)
		}
		out, _ = exec.Command("nsenter", "--net="+underlay, "nft", "list", "tables").CombinedOutput()
		if strings.TrimSpace(string(out)) != "" {
			t.Errorf("nftables left: %s", out)
		}
	})
}

func within(d time.Duration, f func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if f() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lookupIn asks 127.0.0.11 inside the namespace at path for name's A
// records.
func lookupIn(t *testing.T, path, name string) []string {
	var conn net.Conn
	if err := netns.Do(path, func() error {
		var err error
		conn, err = net.Dial("udp", "127.0.0.11:53")
		return err
	}); err != nil {
		t.Logf("dial dns: %v", err)
		return nil
	}
	defer conn.Close()
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), mdns.TypeA)
	co := &mdns.Conn{Conn: conn}
	conn.SetDeadline(time.Now().Add(time.Second))
	if err := co.WriteMsg(m); err != nil {
		return nil
	}
	r, err := co.ReadMsg()
	if err != nil {
		return nil
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*mdns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}
