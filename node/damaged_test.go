package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// raftFlags make the daemon snapshot (and compact its log) after a few
// entries, so a small swarm has a snapshot to damage.
var raftFlags = []string{"--raft-snapshot-threshold", "8", "--raft-trailing-logs", "4", "--raft-snapshot-interval", "100ms"}

// newestSnapshot is the directory of the newest raft snapshot under raftDir.
func newestSnapshot(t *testing.T, raftDir string) string {
	t.Helper()
	es, _ := os.ReadDir(filepath.Join(raftDir, "snapshots"))
	var names []string
	for _, e := range es {
		if e.IsDir() && !strings.HasSuffix(e.Name(), ".tmp") {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		t.Fatal("no raft snapshot")
	}
	sort.Strings(names)
	return filepath.Join(raftDir, "snapshots", names[len(names)-1])
}

// liveRoot is the byte offset of the root page of bbolt's newest meta in
// the file at path: noise there lands on data the database uses (noise in
// free pages would be harmless).
func liveRoot(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 8192 {
		t.Fatalf("reading %s: %v (%d bytes)", path, err, len(b))
	}
	// A meta page: 16-byte page header, then magic, version, page size,
	// flags (4 bytes each), root bucket (root pgid, sequence), freelist,
	// pgid, txid.
	pageSize := int64(binary.LittleEndian.Uint32(b[16+8:]))
	var root, txid uint64
	for _, off := range []int64{0, pageSize} {
		m := b[off+16:]
		if tx := binary.LittleEndian.Uint64(m[48:]); tx >= txid {
			txid, root = tx, binary.LittleEndian.Uint64(m[16:])
		}
	}
	return int64(root) * pageSize
}

func noise(t *testing.T, path string, off int64, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// A manager's damaged raft data ends in a named refusal to start (exit 1),
// never a panic, a crash loop, or a daemon that comes up outside its swarm
// or rejoins without its raft term and vote.
func TestDamagedRaftDataRefusesToStart(t *testing.T) {
	golden := t.TempDir()
	listen := freePort(t)
	d := &daemon{t: t, name: "mgr", dir: golden, listen: listen, extra: raftFlags}
	d.start()
	t.Cleanup(d.kill)
	d.ok("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", listen)
	for i := 0; i < 30; i++ {
		d.ok("service", "create", "--name", fmt.Sprintf("s%02d", i), "--replicas", "0", "-d", "containous/whoami")
	}
	raftDir := filepath.Join(golden, "data", "swarm", "raft")
	eventually(t, 20*time.Second, func() string {
		if es, _ := os.ReadDir(filepath.Join(raftDir, "snapshots")); len(es) == 0 {
			return "no raft snapshot yet"
		}
		return ""
	})
	d.stop()

	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, raftDir string)
		reason string // what the refusal says in its parentheses
	}{
		{"raft.db truncated to half", func(t *testing.T, dir string) {
			fi, _ := os.Stat(filepath.Join(dir, "raft.db"))
			if err := os.Truncate(filepath.Join(dir, "raft.db"), fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"raft.db emptied", func(t *testing.T, dir string) {
			if err := os.Truncate(filepath.Join(dir, "raft.db"), 0); err != nil {
				t.Fatal(err)
			}
		}, "the file is empty"},
		{"64 KiB of noise in raft.db", func(t *testing.T, dir string) {
			noise(t, filepath.Join(dir, "raft.db"), liveRoot(t, filepath.Join(dir, "raft.db")), 64<<10)
		}, ""},
		{"noise in the first 8 KiB of raft.db", func(t *testing.T, dir string) { noise(t, filepath.Join(dir, "raft.db"), 0, 8<<10) }, ""},
		{"raft.db deleted", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "raft.db")); err != nil {
				t.Fatal(err)
			}
		}, "the file is missing"},
		{"raft directory deleted", func(t *testing.T, dir string) {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
		}, "the file is missing, but this node was a manager: its raft term and vote are lost"},
		{"noise in the newest snapshot", func(t *testing.T, dir string) {
			noise(t, filepath.Join(newestSnapshot(t, dir), "state.bin"), 16, 64)
		}, "snapshot "},
		{"the newest snapshot's metadata garbled", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(newestSnapshot(t, dir), "meta.json"), []byte("{\x00garbage"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "unreadable metadata"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if out, err := exec.Command("cp", "-a", filepath.Join(golden, "data"), filepath.Join(dir, "data")).CombinedOutput(); err != nil {
				t.Fatalf("copying the data root: %v %s", err, out)
			}
			caseRaft := filepath.Join(dir, "data", "swarm", "raft")
			tc.damage(t, caseRaft)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, binPath, append([]string{"daemon", "--executor", "fake", "--node-name", "mgr",
				"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "run"),
				"--listen-addr", listen, "--log-level", "warn"}, raftFlags...)...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			code := -1
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err == nil {
				code = 0
			}
			text := out.String()
			if ctx.Err() != nil {
				t.Fatalf("the daemon kept running on damaged raft data:\n%s", text)
			}
			for _, bad := range []string{"panic", "SIGSEGV", "SIGBUS", "goroutine "} {
				if strings.Contains(text, bad) {
					t.Fatalf("the daemon crashed (%s):\n%s", bad, text)
				}
			}
			want := fmt.Sprintf("raft log at %s is damaged (", filepath.Join(caseRaft, "raft.db"))
			if code != 1 || !strings.Contains(text, want) || !strings.Contains(text, "); move it aside and rejoin, or restore from backup") ||
				!strings.Contains(text, tc.reason) {
				t.Fatalf("exit %d, output:\n%s\nwant exit 1 and %q...%q", code, text, want, tc.reason)
			}
			line := text[strings.Index(text, "raft log at "):]
			t.Logf("%s", strings.TrimSpace(strings.SplitN(line, "\n", 2)[0]))
		})
	}

	// The undamaged data starts, with its services.
	t.Run("undamaged data starts", func(t *testing.T) {
		dir := t.TempDir()
		if out, err := exec.Command("cp", "-a", filepath.Join(golden, "data"), filepath.Join(dir, "data")).CombinedOutput(); err != nil {
			t.Fatalf("copying the data root: %v %s", err, out)
		}
		d := &daemon{t: t, name: "mgr", dir: dir, listen: listen, extra: raftFlags}
		d.start()
		defer d.kill()
		eventually(t, 20*time.Second, func() string {
			out, code := d.minsw("service", "ls", "-q")
			if n := len(strings.Fields(out)); code != 0 || n != 30 {
				return fmt.Sprintf("service ls: exit %d, %d services: %s", code, n, out)
			}
			return ""
		})
	})
}
