package ingress_test

import (
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/minsw/minsw/netdriver/ingress"
	"github.com/minsw/minsw/netdriver/netns"
)

func newNs(t *testing.T) (string, int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	p, err := netns.Create(dir, "n")
	if err != nil {
		t.Fatal(err)
	}
	h, err := netns.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(); netns.Delete(p); netns.Release(dir) })
	return p, int(h)
}

func nft(t *testing.T, path string) string {
	out, err := exec.Command("nsenter", "--net="+path, "nft", "list", "ruleset").CombinedOutput()
	if err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	return string(out)
}

// TestTables programs each table in a namespace of its own, reads it back
// as nft prints it, and removes it.
func TestTables(t *testing.T) {
	path, fd := newNs(t)
	pubs := []ingress.Publish{
		{Port: ingress.Port{Proto: ingress.TCP, Port: 8080}, To: netip.MustParseAddrPort("172.18.0.2:8080")},
		{Port: ingress.Port{Proto: ingress.UDP, Port: 5353}, To: netip.MustParseAddrPort("172.18.0.7:53")},
	}
	if err := ingress.SetNodeTable(fd, "minsw_gwbridge", pubs); err != nil {
		t.Fatal(err)
	}
	out := nft(t, path)
	for _, want := range []string{"tcp . 8080 : 172.18.0.2 . 8080", "udp . 5353 : 172.18.0.7 . 53",
		"fib daddr type local dnat ip to meta l4proto . th dport map @publish", `ip saddr 127.0.0.0/8 oifname "minsw_gwbridge" masquerade`} {
		if !strings.Contains(out, want) {
			t.Errorf("node table lacks %q:\n%s", want, out)
		}
	}
	got, err := ingress.NodePublished(fd)
	if err != nil || !slices.Equal(got, []ingress.Publish{pubs[1], pubs[0]}) {
		t.Errorf("read back %v %v", got, err)
	}
	marks := []ingress.PortMark{{Port: ingress.Port{Proto: ingress.TCP, Port: 8080}, Mark: 0x106}}
	if err := ingress.SetSboxTable(fd, netip.MustParseAddr("172.18.0.2"), marks); err != nil {
		t.Fatal(err)
	}
	out = nft(t, path)
	if !strings.Contains(out, "tcp . 8080 : 0x00000106") || !strings.Contains(out, "ip daddr 172.18.0.2 meta mark set meta l4proto . th dport map @port_mark") {
		t.Errorf("sbox table:\n%s", out)
	}
	if got, err := ingress.SboxMarks(fd); err != nil || !slices.Equal(got, marks) {
		t.Errorf("marks read back %v %v", got, err)
	}
	// Programmed again in place: the old element goes, the rule is not doubled.
	marks = []ingress.PortMark{{Port: ingress.Port{Proto: ingress.UDP, Port: 53}, Mark: 0x10a}}
	if err := ingress.SetSboxTable(fd, netip.MustParseAddr("172.18.0.2"), marks); err != nil {
		t.Fatal(err)
	}
	out = nft(t, path)
	if !strings.Contains(out, "udp . 53 : 0x0000010a") || strings.Contains(out, "8080") || strings.Count(out, "map @port_mark") != 1 {
		t.Errorf("sbox table programmed again:\n%s", out)
	}
	if got, err := ingress.SboxMarks(fd); err != nil || !slices.Equal(got, marks) {
		t.Errorf("marks read back %v %v", got, err)
	}
	rs := []ingress.Redirect{{Port: ingress.Port{Proto: ingress.TCP, Port: 8080}, Target: 80}, {Port: ingress.Port{Proto: ingress.TCP, Port: 81}, Target: 81}}
	if err := ingress.SetRedirects(fd, netip.MustParseAddr("10.0.0.5"), rs); err != nil {
		t.Fatal(err)
	}
	out = nft(t, path)
	if !strings.Contains(out, "tcp . 8080 : 80") || strings.Contains(out, "81 :") || !strings.Contains(out, "ip daddr 10.0.0.5 redirect to :meta l4proto . th dport map @redirect") {
		t.Errorf("redirect table:\n%s", out)
	}
	if err := ingress.SetRedirects(fd, netip.MustParseAddr("10.0.0.5"), nil); err != nil {
		t.Fatal(err)
	}
	if out := nft(t, path); strings.TrimSpace(out) != "" {
		t.Errorf("left after removal:\n%s", out)
	}
}
