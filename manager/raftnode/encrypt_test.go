package raftnode

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/manager/encryption"
	"github.com/minsw/minsw/manager/store"
)

func testCipher(t *testing.T) *encryption.AEAD {
	t.Helper()
	k, err := encryption.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	a, err := encryption.New(k, "raft test")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// grepDir reports the files under dir whose bytes contain s.
func grepDir(t *testing.T, dir, s string) []string {
	t.Helper()
	var hits []string
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(s)) {
				hits = append(hits, p)
			}
		}
		return nil
	})
	return hits
}

func openSolo(t *testing.T, dir string, c Cipher) (*Node, *store.Store, error) {
	_, tr := raft.NewInmemTransport("solo")
	cfg := fastConfig("solo", tr)
	cfg.Bootstrap, cfg.DataDir, cfg.Cipher = true, dir, c
	st := store.New(nil, nil)
	n, err := New(cfg, st)
	return n, st, err
}

// With a cipher, neither the log nor the snapshot holds a service name in
// clear; the same key reads both back after a restart, another key cannot.
func TestEncryptedLogAndSnapshotsAtRest(t *testing.T) {
	for _, tc := range []struct {
		name      string
		encrypted bool
	}{{"plain without a key", false}, {"sealed with the data key", true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var c Cipher
			if tc.encrypted {
				c = testCipher(t)
			}
			n, st, err := openSolo(t, dir, c)
			if err != nil {
				t.Fatal(err)
			}
			waitLeader(t, []*member{{node: n}})
			for i := 0; i < 5; i++ {
				if err := createService(st, fmt.Sprintf("topsecret-before-%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := n.raft.Snapshot().Error(); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 5; i++ {
				if err := createService(st, fmt.Sprintf("topsecret-after-%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			_ = n.Shutdown()
			hits := grepDir(t, dir, "topsecret")
			if tc.encrypted && len(hits) > 0 {
				t.Fatalf("service names in clear in %v", hits)
			}
			if !tc.encrypted && len(hits) < 2 {
				t.Fatalf("without a key the log and snapshot hold the names in clear, found them in %v", hits)
			}

			n2, st2, err := openSolo(t, dir, c)
			if err != nil {
				t.Fatal(err)
			}
			waitLeader(t, []*member{{node: n2}})
			if err := n2.Barrier(5e9); err != nil {
				t.Fatal(err)
			}
			if got := len(serviceNames(st2)); got != 10 {
				t.Fatalf("after restart %d services, want 10", got)
			}
			_ = n2.Shutdown()

			if tc.encrypted {
				if n3, _, err := openSolo(t, dir, testCipher(t)); err == nil {
					n3.Shutdown()
					t.Fatal("another key opened the encrypted raft data")
				} else if !strings.Contains(err.Error(), "opens with this node's data key") {
					t.Fatalf("wrong key: %v", err)
				}
			}
		})
	}
}

// Data written before encryption was turned on is still read.
func TestPlainEntriesReadWithACipher(t *testing.T) {
	dir := t.TempDir()
	n, st, err := openSolo(t, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitLeader(t, []*member{{node: n}})
	if err := createService(st, "old"); err != nil {
		t.Fatal(err)
	}
	_ = n.Shutdown()
	n2, st2, err := openSolo(t, dir, testCipher(t))
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Shutdown()
	waitLeader(t, []*member{{node: n2}})
	if err := createService(st2, "new"); err != nil {
		t.Fatal(err)
	}
	if got := serviceNames(st2); !got["old"] || !got["new"] {
		t.Fatalf("services %v", got)
	}
}

// A snapshot opened through the cipher reports its plain size: raft sends
// that many bytes to a follower installing it.
func TestEncryptedSnapshotReportsPlainSize(t *testing.T) {
	fs, err := raft.NewFileSnapshotStore(t.TempDir(), 1, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := encryptedSnapshots{SnapshotStore: fs, c: testCipher(t)}
	_, tr := raft.NewInmemTransport("x")
	sink, err := s.Create(1, 10, 1, raft.Configuration{}, 1, tr)
	if err != nil {
		t.Fatal(err)
	}
	plain := bytes.Repeat([]byte("state"), 1000)
	if _, err := sink.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	meta, rc, err := s.Open(sink.ID())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	if meta.Size != int64(len(plain)) || !bytes.Equal(got, plain) {
		t.Fatalf("size %d, %d bytes back, want %d", meta.Size, len(got), len(plain))
	}
}

// hashicorp/raft closes a snapshot sink again after the FSM snapshot's
// Persist closed it: the second Close must succeed and leave the snapshot
// whole (it used to write the sealed bytes again into the closed file).
func TestSealingSinkClosedTwice(t *testing.T) {
	fs, err := raft.NewFileSnapshotStore(t.TempDir(), 1, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := encryptedSnapshots{SnapshotStore: fs, c: testCipher(t)}
	_, tr := raft.NewInmemTransport("x")
	sink, err := s.Create(1, 10, 1, raft.Configuration{}, 1, tr)
	if err != nil {
		t.Fatal(err)
	}
	plain := bytes.Repeat([]byte("a service spec "), 64<<10/15) // well over the file sink's buffer
	if _, err := sink.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatalf("first close: %v", err)
	}
	if err := sink.Close(); err != nil {
		t.Fatalf("second close (as raft does after Persist): %v", err)
	}
	if _, err := sink.Write([]byte("more")); err == nil {
		t.Fatal("a write after close was accepted")
	}
	_, rc, err := s.Open(sink.ID())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	if !bytes.Equal(got, plain) {
		t.Fatalf("snapshot reads back %d bytes, want the %d written", len(got), len(plain))
	}
}

// An encrypted manager whose store is larger than a few KiB can take a
// snapshot (so its log is compacted).
func TestEncryptedSnapshotOfALargeStore(t *testing.T) {
	dir := t.TempDir()
	n, st, err := openSolo(t, dir, testCipher(t))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	waitLeader(t, []*member{{node: n}})
	for i := 0; i < 300; i++ {
		if err := createService(st, fmt.Sprintf("service-with-a-longish-name-%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.raft.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot of 300 services: %v", err)
	}
	snaps, err := n.snaps.List()
	if err != nil || len(snaps) == 0 {
		t.Fatalf("no snapshot stored (%v)", err)
	}
	if snaps[0].Index < 300 {
		t.Fatalf("newest snapshot at index %d, want >= 300", snaps[0].Index)
	}
}

// A snapshot handed over whole (the FSM's Persist) is sealed from the
// caller's bytes; writes around it still land in order.
func TestSealingSinkWholeAndPieces(t *testing.T) {
	for name, write := range map[string]func(s *sealingSink) error{
		"whole":           func(s *sealingSink) error { return s.writeWhole([]byte("abcdef")) },
		"pieces":          func(s *sealingSink) error { s.Write([]byte("abc")); _, err := s.Write([]byte("def")); return err },
		"whole then more": func(s *sealingSink) error { s.writeWhole([]byte("abc")); _, err := s.Write([]byte("def")); return err },
		"more then whole": func(s *sealingSink) error { s.Write([]byte("abc")); return s.writeWhole([]byte("def")) },
	} {
		t.Run(name, func(t *testing.T) {
			fs, err := raft.NewFileSnapshotStore(t.TempDir(), 1, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			s := encryptedSnapshots{SnapshotStore: fs, c: testCipher(t)}
			_, tr := raft.NewInmemTransport("x")
			sink, err := s.Create(1, 10, 1, raft.Configuration{}, 1, tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := write(sink.(*sealingSink)); err != nil {
				t.Fatal(err)
			}
			if err := sink.Close(); err != nil {
				t.Fatal(err)
			}
			_, rc, err := s.Open(sink.ID())
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := io.ReadAll(rc); string(got) != "abcdef" {
				t.Fatalf("snapshot reads back %q", got)
			}
		})
	}
}

// countingWrapper stands for the byte counter raft wraps a snapshot's
// reader in before it hands it to the FSM.
type countingWrapper struct {
	io.ReadCloser
}

func (w countingWrapper) WrappedReadCloser() io.ReadCloser { return w.ReadCloser }

// A restore decodes an opened snapshot's own bytes, through raft's
// wrapper, and leaves none of them referenced by the reader raft still
// holds: they are garbage by the collection that ends the restore.
func TestRestoreTakesTheOpenedSnapshotsBytes(t *testing.T) {
	src := store.New(nil, nil)
	for i := 0; i < 3; i++ {
		if err := createService(src, fmt.Sprintf("svc-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := proto.Marshal(src.Save())
	if err != nil {
		t.Fatal(err)
	}
	p := newPlainSnapshot(b)
	n := &Node{store: store.New(nil, nil)}
	if err := (*fsm)(n).Restore(countingWrapper{p}); err != nil {
		t.Fatal(err)
	}
	if got := len(serviceNames(n.store)); got != 3 {
		t.Fatalf("%d services restored, want 3", got)
	}
	if p.b != nil || p.Len() != 0 {
		t.Fatalf("the opened snapshot still holds %d bytes (%d unread) after the restore", len(p.b), p.Len())
	}
}
