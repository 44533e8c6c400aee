package gwbridge_test

import (
	"context"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/minsw/minsw/netdriver/gwbridge"
	"github.com/minsw/minsw/netdriver/internal/labtest"
	"github.com/minsw/minsw/netdriver/netns"
)

// A container reaches the node's outside network through the gateway
// bridge, masqueraded to the node's address; Remove leaves nothing.
func TestEgressIsMasqueraded(t *testing.T) {
	lab := labtest.New(t.TempDir())
	t.Cleanup(func() { lab.Close() })
	node, err := lab.Netns("gwnode")
	if err != nil {
		t.Fatal(err)
	}
	outside, _ := lab.Netns("gwout")
	ctr, _ := lab.Netns("gwctr")
	if err := labtest.Wire(node, "ext0", netip.MustParsePrefix("192.168.99.1/24"), outside, "eth0", netip.MustParsePrefix("192.168.99.2/24")); err != nil {
		t.Fatal(err)
	}
	srv, err := labtest.StartWhoami(outside, "outside")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	h, err := netns.Open(node)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	br, err := gwbridge.Ensure(h, gwbridge.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { br.Remove() })
	if _, err := gwbridge.Ensure(h, gwbridge.Config{}); err != nil {
		t.Fatalf("re-ensure: %v", err)
	}
	if err := br.Attach("6039865a1e5d", ctr, netip.MustParsePrefix("172.18.0.3/16")); err != nil {
		t.Fatal(err)
	}
	body, err := labtest.Get(context.Background(), labtest.Client(ctr, false), "http://192.168.99.2/")
	if err != nil {
		t.Fatal(err)
	}
	if r := labtest.Field(body, "RemoteAddr"); !strings.HasPrefix(r, "192.168.99.1:") {
		t.Fatalf("RemoteAddr %q, want the node's address", r)
	}
	if err := br.Remove(); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("nsenter", "--net="+node, "ip", "-o", "link").CombinedOutput()
	if strings.Contains(string(out), "gwbridge") || strings.Contains(string(out), "gw") && strings.Count(string(out), "\n") != 2 {
		t.Fatalf("links left:\n%s", out)
	}
	out, _ = exec.Command("nsenter", "--net="+node, "nft", "list", "ruleset").CombinedOutput()
	if strings.TrimSpace(string(out)) != "" {
		t.Fatalf("ruleset left:\n%s", out)
	}
}
