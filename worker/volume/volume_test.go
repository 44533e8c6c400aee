package volume

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minsw/minsw/internal/errdefs"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := New(filepath.Join(t.TempDir(), "volumes"), func() time.Time { return time.Unix(1_700_000_000, 0) })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNamedVolumeKeepsItsDataAcrossUses(t *testing.T) {
	s := newStore(t)
	v, err := s.Create("dbdata", map[string]string{"app": "db"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Mount("dbdata")
	if err != nil || p != v.Mountpoint || !strings.HasSuffix(p, "/dbdata/_data") {
		t.Fatalf("mount %q %v", p, err)
	}
	if err := os.WriteFile(filepath.Join(p, "row"), []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Creating it again (the next task) finds the same volume and data.
	again, err := s.Create("dbdata", nil, nil)
	if err != nil || again.Labels["app"] != "db" || !again.CreatedAt.Equal(v.CreatedAt) {
		t.Fatalf("second create %v %v", again, err)
	}
	if b, _ := os.ReadFile(filepath.Join(again.Mountpoint, "row")); string(b) != "1" {
		t.Fatal("data lost")
	}
	// A second store over the same root (daemon restart) sees it.
	s2, _ := New(s.root, nil)
	if vs, _ := s2.List(); len(vs) != 1 || vs[0].Name != "dbdata" || vs[0].Driver != "local" {
		t.Fatalf("after restart: %v", vs)
	}
}

func TestRemoveIsRefusedWhileInUse(t *testing.T) {
	s := newStore(t)
	s.Create("data", nil, nil)
	err := s.Remove("data", []string{"web.1.abc"}, false)
	if !errdefs.Is(err, errdefs.KindFailedPrecondition) || err.Error() != "remove data: volume is in use - [web.1.abc]" {
		t.Fatalf("rm in use: %v", err)
	}
	if _, err := s.Get("data"); err != nil {
		t.Fatal("refused rm removed the volume")
	}
	if err := s.Remove("data", nil, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("data"); !errdefs.Is(err, errdefs.KindNotFound) || err.Error() != "get data: no such volume" {
		t.Fatalf("get after rm: %v", err)
	}
	if err := s.Remove("data", nil, false); !errdefs.Is(err, errdefs.KindNotFound) {
		t.Fatalf("rm twice: %v", err)
	}
}

func TestPruneRemovesUnusedAnonymousVolumes(t *testing.T) {
	s := newStore(t)
	named, _ := s.Create("keep", nil, nil)
	anonUsed, _ := s.CreateAnonymous()
	anonFree, err := s.CreateAnonymous()
	if err != nil || len(anonFree.Name) != 64 || !anonFree.Anonymous() || named.Anonymous() {
		t.Fatalf("anonymous %v %v", anonFree, err)
	}
	os.WriteFile(filepath.Join(anonFree.Mountpoint, "f"), make([]byte, 1000), 0o644)
	used := func(n string) bool { return n == anonUsed.Name }
	removed, size, err := s.Prune(used, false)
	if err != nil || len(removed) != 1 || removed[0] != anonFree.Name || size != 1000 {
		t.Fatalf("prune: %v %d %v", removed, size, err)
	}
	removed, _, _ = s.Prune(used, true)
	if len(removed) != 1 || removed[0] != "keep" {
		t.Fatalf("prune -a: %v", removed)
	}
	if vs, _ := s.List(); len(vs) != 1 || vs[0].Name != anonUsed.Name {
		t.Fatalf("left %v", vs)
	}
}

func TestBadNamesAndOptions(t *testing.T) {
	s := newStore(t)
	for _, c := range []struct {
		name string
		opts map[string]string
		want string
	}{
		{"a", nil, `"a" includes invalid characters for a local volume name`},
		{"../etc", nil, "invalid characters"},
		{"has space", nil, "invalid characters"},
		{"ok", map[string]string{"colour": "red"}, `invalid option for the local volume driver: "colour"`},
		{"ok", map[string]string{"type": "tmpfs"}, "type and device go together"},
	} {
		if _, err := s.Create(c.name, nil, c.opts); !errdefs.Is(err, errdefs.KindInvalidArgument) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("create %q %v: %v, want %q", c.name, c.opts, err, c.want)
		}
	}
	if vs, _ := s.List(); len(vs) != 0 {
		t.Fatalf("refused creates left %v", vs)
	}
}

// A volume whose options name a filesystem is mounted on first use and
// unmounted when removed (docker's local driver with volume-opt).
func TestVolumeOptionsMountAFilesystem(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	s := newStore(t)
	if _, err := s.Create("scratch", nil, map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}); err != nil {
		t.Fatal(err)
	}
	p, err := s.Mount("scratch")
	if err != nil {
		t.Fatal(err)
	}
	if !isMountpoint(p) {
		t.Fatal("volume not mounted")
	}
	if _, err := s.Mount("scratch"); err != nil {
		t.Fatalf("second use: %v", err)
	}
	if err := s.Remove("scratch", nil, false); err != nil {
		t.Fatal(err)
	}
	if isMountpoint(p) {
		t.Fatal("still mounted after rm")
	}
}
