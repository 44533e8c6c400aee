package raftnode

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/store"
)

// compactedSolo leaves in dir an encrypted one-member raft whose log was
// compacted behind a snapshot, and returns the cipher.
func compactedSolo(t *testing.T, dir string) Cipher {
	t.Helper()
	c := testCipher(t)
	_, tr := raft.NewInmemTransport("solo")
	cfg := fastConfig("solo", tr)
	cfg.Bootstrap, cfg.DataDir, cfg.Cipher = true, dir, c
	cfg.SnapshotThreshold, cfg.TrailingLogs, cfg.SnapshotInterval = 8, 2, 20*time.Millisecond
	st := store.New(nil, nil)
	n, err := New(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	waitLeader(t, []*member{{node: n}})
	for i := 0; i < 30; i++ {
		if err := createService(st, fmt.Sprintf("s%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		first, _ := n.logs.FirstIndex()
		if first > 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the log was not compacted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = n.Shutdown()
	return c
}

// Damage raft would not notice by itself: a log whose earlier entries are
// gone with no snapshot to replace them, and snapshots without their log.
func TestDamageRaftWouldMiss(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(dir string) error
		reason string
	}{
		{"the snapshots deleted behind a compacted log", func(dir string) error {
			return os.RemoveAll(filepath.Join(dir, "raft", "snapshots"))
		}, "no snapshot holds the entries before it"},
		{"raft.db deleted, snapshots kept", func(dir string) error {
			return os.Remove(filepath.Join(dir, "raft", "raft.db"))
		}, "the file is missing but the snapshots are there"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c := compactedSolo(t, dir)
			if err := tc.damage(dir); err != nil {
				t.Fatal(err)
			}
			n, _, err := openSolo(t, dir, c)
			if err == nil {
				n.Shutdown()
				t.Fatal("a member started on damaged raft data")
			}
			var d *DamagedError
			if !errors.As(err, &d) || !errdefs.Is(err, errdefs.KindFailedPrecondition) || !strings.Contains(err.Error(), tc.reason) ||
				d.Path != LogPath(dir) {
				t.Fatalf("refusal: %v", err)
			}
		})
	}
	t.Run("undamaged", func(t *testing.T) {
		dir := t.TempDir()
		c := compactedSolo(t, dir)
		n, st, err := openSolo(t, dir, c)
		if err != nil {
			t.Fatal(err)
		}
		defer n.Shutdown()
		waitLeader(t, []*member{{node: n}})
		if err := n.Barrier(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		if got := len(serviceNames(st)); got != 30 {
			t.Fatalf("%d services after restart, want 30", got)
		}
	})
}
