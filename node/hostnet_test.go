package node_test

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/minsw/minsw/netdriver/netns"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/agent"
	"github.com/minsw/minsw/worker/executor"
)

// checkHostNetwork: `service create --network host busybox` runs its task
// in the node's own network namespace, as Swarm does: the container sees
// the node's interfaces (a veth the test gives the node), has the
// node's hostname, no namespace file of its own and no VIP.
func checkHostNetwork(t *testing.T, c *ctrdNode) {
	ctx, cl := c.ctx, c.cl
	err := netns.Do(c.underlay, func() error {
		// A veth (this kernel has no dummy links); its peer stays down.
		d := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "hostnet0"}, PeerName: "hostnet1"}
		if err := netlink.LinkAdd(d); err != nil {
			return err
		}
		if err := netlink.AddrAdd(d, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(192, 0, 2, 77), Mask: net.CIDRMask(32, 32)}}); err != nil {
			return err
		}
		return netlink.LinkSetUp(d)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer netns.Do(c.underlay, func() error {
		l, err := netlink.LinkByName("hostnet0")
		if err != nil {
			return err
		}
		return netlink.LinkDel(l)
	})
	one := uint64(1)
	created, err := cl.Control.CreateService(ctx, &minswv1.CreateServiceRequest{Spec: &minswv1.ServiceSpec{
		Name: "hostnet",
		Task: &minswv1.TaskSpec{
			Container: &minswv1.ContainerSpec{Image: "busybox", Command: []string{"sleep", "3600"}},
			Networks:  []*minswv1.NetworkAttachmentConfig{{Target: "host"}},
		},
		Mode: &minswv1.ServiceSpec_Replicated{Replicated: &minswv1.ReplicatedService{Replicas: one}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Control.RemoveService(ctx, &minswv1.RemoveServiceRequest{Ref: "hostnet"})
	if v := created.GetService().GetEndpoint().GetVirtualIps(); len(v) != 0 {
		t.Errorf("VIPs %v for a service on the host network", v)
	}
	var task *minswv1.Task
	if !within(60*time.Second, func() bool {
		r, err := cl.Control.ListTasks(ctx, &minswv1.ListTasksRequest{ServiceIds: []string{created.GetService().GetId()}})
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
		r, _ := cl.Control.ListTasks(ctx, &minswv1.ListTasksRequest{ServiceIds: []string{created.GetService().GetId()}})
		t.Fatalf("no running hostnet task: %v", r.GetTasks())
	}
	if len(task.GetNetworks()) != 0 {
		t.Errorf("task attachments %v on the host network", task.GetNetworks())
	}
	cid := agent.ContainerID(task.GetId())
	var out, errb bytes.Buffer
	code, err := c.ex.Exec(ctx, cid, executor.ExecConfig{Cmd: []string{"sh", "-c", "ip -o addr; hostname"}, Stdout: &out, Stderr: &errb})
	if err != nil || code != 0 {
		t.Fatalf("exec: %d %v\n%s%s", code, err, out.String(), errb.String())
	}
	t.Logf("inside the hostnet task:\n%s", out.String())
	if !strings.Contains(out.String(), "hostnet0") || !strings.Contains(out.String(), "inet 192.0.2.77/32") {
		t.Errorf("the task does not see the node's interface hostnet0 (192.0.2.77):\n%s", out.String())
	}
	if strings.Contains(out.String(), "eth0") {
		t.Errorf("the task has an eth0 of its own:\n%s", out.String())
	}
	// docker stats shows no networks of its own for it, as docker's.
	if st, err := c.ex.Stats(ctx, cid); err != nil || !st.Running || len(st.Networks) != 0 || st.PidsCurrent == 0 {
		t.Errorf("stats of the hostnet task: %v running %v networks %v pids %d", err, st.Running, st.Networks, st.PidsCurrent)
	}
	if lines := strings.Fields(out.String()); lines[len(lines)-1] != "node1" {
		t.Errorf("hostname %q, want the node's (node1)", lines[len(lines)-1])
	}
	local, err := cl.Networks.ListLocalNetworks(ctx, &minswv1.ListLocalNetworksRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, n := range local.GetNetworks() {
		rows = append(rows, strings.TrimSpace(n.GetName()+" "+n.GetDriver()+" "+n.GetSubnet()+" "+n.GetGateway()))
	}
	if got := strings.Join(rows, ", "); got != "minsw_gwbridge bridge 172.18.0.0/16 172.18.0.1, host host, none null" {
		t.Errorf("network ls local rows: %s", got)
	}
	if _, err := os.Stat(filepath.Join(c.execRoot, "netns", cid[:12])); !os.IsNotExist(err) {
		t.Errorf("a namespace file was made for the hostnet task: %v", err)
	}
}
