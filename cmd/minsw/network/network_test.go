package network_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/minsw/minsw/cmd/minsw/internal/clitest"
)

func TestNetworkLs(t *testing.T) {
	sock := clitest.Seed().Serve(t)
	out, _, code := clitest.Run(t, sock, "", "network", "ls")
	want := "" +
		"NETWORK ID     NAME      DRIVER    SCOPE\n" +
		"14fy2l7a4mci   ingress   overlay   swarm\n" +
		"lpirdge00y3j   mynet     overlay   swarm\n"
	if code != 0 || out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	out, _, _ = clitest.Run(t, sock, "", "network", "ls", "-q")
	if out != "14fy2l7a4mci\nlpirdge00y3j\n" {
		t.Errorf("quiet: %q", out)
	}
}

func TestNetworkCreateInspectRm(t *testing.T) {
	d := clitest.Seed()
	sock := d.Serve(t)
	out, errOut, code := clitest.Run(t, sock, "", "network", "create", "-d", "overlay", "--subnet", "10.0.9.0/24", "--attachable", "--label", "a=b", "other")
	if code != 0 || len(strings.TrimSpace(out)) != 25 {
		t.Fatalf("create: %d %q %q", code, out, errOut)
	}
	if spec := d.Networks[2].Spec; spec.Driver != "overlay" || spec.Subnet != "10.0.9.0/24" || !spec.Attachable || spec.Labels["a"] != "b" {
		t.Errorf("spec %v", spec)
	}
	_, errOut, code = clitest.Run(t, sock, "", "network", "create", "other")
	if code != 1 || errOut != "Error response from daemon: network with name other already exists\n" {
		t.Errorf("dup: %d %q", code, errOut)
	}

	out, errOut, code = clitest.Run(t, sock, "", "network", "inspect", "mynet")
	if code != 0 {
		t.Fatalf("inspect: %d %s", code, errOut)
	}
	var got []struct {
		Name, Id, Scope, Driver string
		IPAM                    struct {
			Driver string
			Config []struct{ Subnet, Gateway string }
		}
		Options    map[string]string
		Containers map[string]struct{ Name, MacAddress, IPv4Address string }
		Peers      []struct{ Name, IP string }
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	n := got[0]
	if n.Name != "mynet" || n.Id != "lpirdge00y3jqagzhq9psqu6f" || n.Scope != "swarm" || n.Driver != "overlay" ||
		n.IPAM.Driver != "default" || n.IPAM.Config[0].Subnet != "10.0.1.0/24" || n.IPAM.Config[0].Gateway != "10.0.1.1" ||
		n.Options["com.docker.network.driver.overlay.vxlanid_list"] != "4097" {
		t.Errorf("network: %+v", n)
	}
	lb := n.Containers["lb-mynet"]
	if lb.Name != "mynet-endpoint" || lb.IPv4Address != "10.0.1.37/24" || lb.MacAddress != "02:42:0a:00:01:25" {
		t.Errorf("lb endpoint: %+v", n.Containers)
	}
	if len(n.Peers) != 1 || n.Peers[0].Name != "swarm-manager" || n.Peers[0].IP != "192.168.56.10" {
		t.Errorf("peers: %+v", n.Peers)
	}

	out, errOut, code = clitest.Run(t, sock, "", "network", "rm", "mynet", "nope")
	if code != 1 || out != "mynet\n" || errOut != "Error response from daemon: network nope not found\n" {
		t.Errorf("rm: %d %q %q", code, out, errOut)
	}
}
