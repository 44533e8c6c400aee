package lb_test

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/minsw/minsw/cmd/minsw/internal/clitest"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// fakeNetworks answers LBInspect with the seed's lb namespace on the
// manager node.
type fakeNetworks struct {
	minswv1.UnimplementedNetworksServer
}

func (fakeNetworks) LBInspect(_ context.Context, r *minswv1.LBInspectRequest) (*minswv1.LBInspectResponse, error) {
	n := &minswv1.LBNetwork{
		Id: "lpirdge00y3jqagzhq9psqu6f", Name: "mynet", Subnet: "10.0.1.0/24", Vni: 4097,
		LbNetns: "/var/run/minsw/netns/lb_lpirdge00", LbAddr: "10.0.1.37/24", Backend: "nftables",
		Vips: []string{"10.0.1.30", "10.0.1.35"},
		Services: []*minswv1.LBService{
			{Vip: "10.0.1.30", Fwmark: 0x106, Backends: []string{"10.0.1.31", "10.0.1.32"},
				Conns: []*minswv1.LBConns{{Backend: "10.0.1.31", Active: 3, Inactive: 12}, {Backend: "10.0.1.32", Inactive: 1}}},
			{Vip: "10.0.1.35", Fwmark: 0x107, Backends: []string{"10.0.1.36"}},
		},
	}
	if r.GetNetwork() != "" && r.GetNetwork() != "mynet" && !strings.HasPrefix(n.Id, r.GetNetwork()) {
		return nil, status.Errorf(codes.NotFound, "network %s has no lb namespace on this node (no task of it runs here)", r.GetNetwork())
	}
	return &minswv1.LBInspectResponse{Backend: "nftables", BackendReason: "kernel lacks IPVS (no /proc/net/ip_vs, no ip_vs module)",
		Networks: []*minswv1.LBNetwork{n}}, nil
}

func serveNetworks(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "minsw.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	minswv1.RegisterNetworksServer(srv, fakeNetworks{})
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return path
}

func TestLBInspect(t *testing.T) {
	sock := serveNetworks(t)
	out, errOut, code := clitest.Run(t, sock, "", "lb", "inspect", "mynet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"Backend: nftables (kernel lacks IPVS",
		"Network mynet (lpirdge00y3j)  lb lb_lpirdge00  endpoint 10.0.1.37/24  backend nftables",
		"FWM  262 rr",
		"(VIP 10.0.1.30, mark 0x106)",
		"  -> 10.0.1.31:0                  Masq    1      3          12\n",
		"  -> 10.0.1.32:0                  Masq    1      0          1\n",
		"FWM  263 rr",
		"  -> 10.0.1.36:0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	t.Log("\n" + out)

	_, errOut, code = clitest.Run(t, sock, "", "lb", "inspect", "nosuchnet")
	if code == 0 || !strings.Contains(errOut, "Error response from daemon: network nosuchnet has no lb namespace on this node") {
		t.Errorf("unknown network: exit %d, %q", code, errOut)
	}
	out, _, code = clitest.Run(t, sock, "", "lb", "inspect", "--json")
	if code != 0 || !strings.Contains(out, `"Mark": 262`) {
		t.Errorf("json: exit %d\n%s", code, out)
	}
	if _, errOut, code = clitest.Run(t, sock, "", "lb", "inspect", "a", "b"); code == 0 || !strings.Contains(errOut, "accepts at most 1 argument") {
		t.Errorf("two networks: exit %d %q", code, errOut)
	}
}
