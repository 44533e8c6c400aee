package lb_test

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"

	"github.com/minsw/minsw/cmd/minsw/internal/clitest"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// fakeMesh answers LBInspect with a node's routing mesh: web publishes
// 8080/tcp and 8081/udp through it, and a host-mode task takes 9090.
type fakeMesh struct {
	minswv1.UnimplementedNetworksServer
}

func (fakeMesh) LBInspect(context.Context, *minswv1.LBInspectRequest) (*minswv1.LBInspectResponse, error) {
	n := &minswv1.LBNetwork{
		Id: "ingr3ssn3tw0rk0000000000a", Name: "ingress", Subnet: "10.0.0.0/24", Vni: 4096,
		LbNetns: "/var/run/minsw/netns/ingress_sbox", LbAddr: "10.0.0.4/24", Backend: "nftables",
		Services: []*minswv1.LBService{{Vip: "10.0.0.10", Fwmark: 0x120, Backends: []string{"10.0.0.11", "10.0.0.12"}}},
		Ingress: &minswv1.LBIngress{SboxAddr: "172.18.0.2/16", Published: []*minswv1.LBPublishedPort{
			{Protocol: "tcp", Port: 8080, Fwmark: 0x120},
			{Protocol: "udp", Port: 8081, Fwmark: 0x120},
			{Protocol: "tcp", Port: 9090, To: "172.18.3.4:80"},
		}},
	}
	return &minswv1.LBInspectResponse{Backend: "nftables", BackendReason: "kernel lacks IPVS", Networks: []*minswv1.LBNetwork{n}}, nil
}

func TestLBInspectIngress(t *testing.T) {
	path := filepath.Join(t.TempDir(), "minsw.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	minswv1.RegisterNetworksServer(srv, fakeMesh{})
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	out, errOut, code := clitest.Run(t, path, "", "lb", "inspect", "ingress")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"Network ingress (ingr3ssn3tw0)  lb ingress_sbox  endpoint 10.0.0.4/24",
		"Routing mesh: ingress_sbox  gateway leg 172.18.0.2/16",
		"*:8080/tcp       -> ingress_sbox mark 0x120",
		"*:8081/udp       -> ingress_sbox mark 0x120",
		"*:9090/tcp       -> 172.18.3.4:80 (host mode)",
		"(VIP 10.0.0.10, mark 0x120, published 8080/tcp 8081/udp)",
		"  -> 10.0.0.11:0",
		"  -> 10.0.0.12:0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	t.Log("\n" + out)
}
