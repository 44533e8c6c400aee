package network_test

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"

	"github.com/minsw/minsw/cmd/minsw/internal/clitest"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// localNets answers ListLocalNetworks as a node that made its gateway
// bridge (its options and labels as the node gives them).
type localNets struct {
	minswv1.UnimplementedNetworksServer
}

func (localNets) ListLocalNetworks(context.Context, *minswv1.ListLocalNetworksRequest) (*minswv1.ListLocalNetworksResponse, error) {
	return &minswv1.ListLocalNetworksResponse{Networks: []*minswv1.LocalNetwork{
		{Id: "128fd1cb0fae4a5e" + "0000000000000000000000000000000000000000000000", Name: "minsw_gwbridge", Driver: "bridge", Subnet: "172.18.0.0/16", Gateway: "172.18.0.1",
			Options:   map[string]string{"com.docker.network.bridge.name": "minsw_gwbridge", "com.docker.network.bridge.enable_icc": "false"},
			Labels:    map[string]string{minswv1.LabelDockerEquivalent: "docker_gwbridge"},
			Endpoints: []*minswv1.LocalEndpoint{{Key: "ingress-sbox", Name: "gateway_ingress-sbox", Ipv4Address: "172.18.0.2/16"}}},
		{Id: "0ea68b0d28b9" + "0000000000000000000000000000000000000000000000000000", Name: "host", Driver: "host"},
		{Id: "a8edf1804fb6" + "0000000000000000000000000000000000000000000000000000", Name: "none", Driver: "null"},
	}}, nil
}

func serveWithLocal(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "minsw.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	minswv1.RegisterControlServer(srv, clitest.Seed())
	minswv1.RegisterNetworksServer(srv, localNets{})
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return path
}

// network ls lists the node's own networks as docker's does (host, the
// gateway bridge, none), and network inspect shows the gateway bridge as
// docker_gwbridge's counterpart.
func TestLocalNetworksListedAndInspected(t *testing.T) {
	sock := serveWithLocal(t)
	out, errOut, code := clitest.Run(t, sock, "", "network", "ls")
	want := "" +
		"NETWORK ID     NAME             DRIVER    SCOPE\n" +
		"0ea68b0d28b9   host             host      local\n" +
		"14fy2l7a4mci   ingress          overlay   swarm\n" +
		"128fd1cb0fae   minsw_gwbridge   bridge    local\n" +
		"lpirdge00y3j   mynet            overlay   swarm\n" +
		"a8edf1804fb6   none             null      local\n"
	if code != 0 || out != want {
		t.Errorf("network ls: %d %s\ngot\n%s\nwant\n%s", code, errOut, out, want)
	}

	out, errOut, code = clitest.Run(t, sock, "", "network", "inspect", "minsw_gwbridge", "host")
	if code != 0 {
		t.Fatalf("inspect: %d %s", code, errOut)
	}
	var got []struct {
		Name, Scope, Driver string
		IPAM                struct {
			Config []struct{ Subnet, Gateway string }
		}
		Options, Labels map[string]string
		Containers      map[string]struct{ Name, IPv4Address string }
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 2 {
		t.Fatalf("%v\n%s", err, out)
	}
	gw, host := got[0], got[1]
	if gw.Name != "minsw_gwbridge" || gw.Scope != "local" || gw.Driver != "bridge" || len(gw.IPAM.Config) != 1 ||
		gw.IPAM.Config[0].Subnet != "172.18.0.0/16" || gw.IPAM.Config[0].Gateway != "172.18.0.1" ||
		gw.Options["com.docker.network.bridge.name"] != "minsw_gwbridge" || gw.Options["com.docker.network.bridge.enable_icc"] != "false" ||
		gw.Labels["minsw.network.docker-equivalent"] != "docker_gwbridge" ||
		gw.Containers["ingress-sbox"].Name != "gateway_ingress-sbox" || gw.Containers["ingress-sbox"].IPv4Address != "172.18.0.2/16" {
		t.Errorf("minsw_gwbridge: %+v", gw)
	}
	if host.Name != "host" || host.Driver != "host" || host.Scope != "local" || len(host.IPAM.Config) != 0 {
		t.Errorf("host: %+v", host)
	}
	_, errOut, code = clitest.Run(t, sock, "", "network", "inspect", "nosuch")
	if code != 1 || errOut != "Error response from daemon: network nosuch not found\n" {
		t.Errorf("unknown network: %d %q", code, errOut)
	}
}
