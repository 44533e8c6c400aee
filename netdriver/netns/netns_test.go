package netns_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/minsw/minsw/netdriver/netns"
	vnetns "github.com/vishvananda/netns"
)

func TestNamesReadAsTheSeed(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{netns.SandboxName("lpirdge00y3jq8w7e6r5t4y3u"), "1-lpirdge00y"},
		{netns.LBName("lpirdge00y3jq8w7e6r5t4y3u"), "lb_lpirdge00"},
		{netns.ContainerName("36dce35d56e87d43d08c5b9a94678fe789659cb3b1a5c9ddccd7de4b26e8d588"), "36dce35d56e8"},
		{netns.LBName("short"), "lb_short"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestCreateDoDelete(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "netns")
	p, err := netns.Create(dir, "1-testtestte")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netns.Delete(p); netns.Release(dir) })
	if !netns.IsNetns(p) {
		t.Fatal("not a namespace")
	}
	if _, err := netns.Create(dir, "1-testtestte"); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second create: %v", err)
	}
	if m, _ := netns.IsMountPoint(dir); !m {
		t.Fatal("dir is not a (shared) mount point")
	}
	outer, _ := vnetns.Get()
	defer outer.Close()
	var inner vnetns.NsHandle
	if err := netns.Do(p, func() error {
		var err error
		inner, err = vnetns.Get()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	target, _ := vnetns.GetFromPath(p)
	defer target.Close()
	if !inner.Equal(target) || inner.Equal(outer) {
		t.Fatal("Do did not run inside the namespace")
	}
	// A panic inside Do reaches the caller; the thread is not reused dirty.
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic swallowed")
			}
		}()
		netns.Do(p, func() error { panic("boom") })
	}()
	now, _ := vnetns.Get()
	defer now.Close()
	if !now.Equal(outer) {
		t.Fatal("caller's thread left in another namespace")
	}
	if err := netns.Delete(p); err != nil {
		t.Fatal(err)
	}
	if err := netns.Release(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dir left: %v", err)
	}
}
