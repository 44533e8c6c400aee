package netns_test

import (
	"path/filepath"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/minsw/minsw/netdriver/netns"
)

// A handle opened through WithHandle speaks to the namespace named, not
// the caller's: a link made through it is seen there only.
func TestWithHandleSpeaksInTheNamespaceNamed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "netns")
	p, err := netns.Create(dir, "1-handletest")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netns.Delete(p); netns.Release(dir) })
	const name = "mswhdl0"
	err = netns.WithHandle(p, func(h *netlink.Handle) error {
		la := netlink.NewLinkAttrs()
		la.Name = name
		return h.LinkAdd(&netlink.Bridge{LinkAttrs: la})
	})
	if err != nil {
		t.Fatal(err)
	}
	names := func(path string) map[string]bool {
		out := map[string]bool{}
		if err := netns.WithHandle(path, func(h *netlink.Handle) error {
			links, err := h.LinkList()
			for _, l := range links {
				out[l.Attrs().Name] = true
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if in := names(p); !in[name] || !in["lo"] {
		t.Fatalf("links in the namespace: %v", in)
	}
	if here := names(""); here[name] {
		t.Fatal("the link made in the namespace shows in the caller's")
	}
	if err := netns.WithHandle(filepath.Join(dir, "missing"), func(*netlink.Handle) error { return nil }); err == nil {
		t.Fatal("a missing namespace gave a handle")
	}
}
