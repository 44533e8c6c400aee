package raftnode

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// DamagedError says the raft data on disk cannot be trusted, and why. A
// manager refuses to start on it rather than crash or run on a log that
// has lost entries or its term and vote: a manager that forgets its vote
// may vote twice in one term.
type DamagedError struct {
	// Path is the raft log (raft.db).
	Path   string
	Reason string
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("raft log at %s is damaged (%s); move it aside and rejoin, or restore from backup", e.Path, e.Reason)
}

// Damaged returns the errdefs FailedPrecondition error for raft data at
// path (raft.db) found damaged for reason.
func Damaged(path, reason string) error {
	return errdefs.FailedPrecondition("%w", &DamagedError{Path: path, Reason: reason})
}

// LogPath is where a manager with data dir dataDir keeps its raft log.
func LogPath(dataDir string) string { return filepath.Join(dataDir, "raft", "raft.db") }

// guard runs fn where a fault on a damaged memory-mapped file, or a panic
// of the storage code on garbage, becomes an error instead of a crash.
func guard(fn func() error) error {
	done := make(chan error, 1)
	go func() {
		debug.SetPanicOnFault(true)
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("unreadable: %v", r)
			}
		}()
		done <- fn()
	}()
	return <-done
}

// checkLogFile reads every page of an existing raft.db through bbolt
// (read-only) before raft-boltdb opens it for writing: a file cut short,
// unreadable meta pages or garbage pages are reported, not crashed on.
func checkLogFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Size() == 0 {
		return Damaged(path, "the file is empty")
	}
	err = guard(func() error {
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
		if err != nil {
			return err
		}
		defer db.Close()
		return db.View(func(tx *bolt.Tx) error {
			if hw := tx.Size(); hw > fi.Size() {
				return fmt.Errorf("the file is %d bytes but its pages reach byte %d: it was cut short", fi.Size(), hw)
			}
			return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
				return walk(b)
			})
		})
	})
	if err != nil {
		return Damaged(path, reason(err))
	}
	return nil
}

// walk reads every key and value of b and its nested buckets.
func walk(b *bolt.Bucket) error {
	c := b.Cursor()
	var sum int
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil {
			if nb := b.Bucket(k); nb != nil {
				if err := walk(nb); err != nil {
					return err
				}
			}
			continue
		}
		sum += len(k) + len(v)
	}
	_ = sum
	return nil
}

// openLogStore opens raft.db (raft-boltdb), guarded like checkLogFile.
func openLogStore(path string) (*raftboltdb.BoltStore, error) {
	var store *raftboltdb.BoltStore
	err := guard(func() error {
		var err error
		store, err = raftboltdb.New(raftboltdb.Options{Path: path})
		return err
	})
	if err != nil {
		return nil, Damaged(path, reason(err))
	}
	return store, nil
}

// checkEntries reads every entry of the log back (through the cipher) and
// checks the term is there: entries that do not decode or open, a gap, or
// a log without its term are damage.
func checkEntries(path string, logs raft.LogStore, stable raft.StableStore) (first, last uint64, err error) {
	err = guard(func() error {
		var err error
		if first, err = logs.FirstIndex(); err != nil {
			return err
		}
		if last, err = logs.LastIndex(); err != nil {
			return err
		}
		if last == 0 {
			return nil
		}
		var firstErr error
		opened := 0 // entries with data that opened and decoded
		for i := first; i <= last; i++ {
			l, err := readEntry(logs, i)
			if err == nil && l.Index != i {
				err = fmt.Errorf("entry %d is stored as entry %d", i, l.Index)
			}
			if err != nil && firstErr == nil {
				firstErr = err
			}
			if err == nil && len(l.Data) > 0 {
				opened++
			}
		}
		if firstErr != nil && opened == 0 {
			return fmt.Errorf("none of its entries opens with this node's data key: a wrong key, or damage throughout (%v)", firstErr)
		}
		if firstErr != nil {
			return firstErr
		}
		if term, err := stable.GetUint64(keyCurrentTerm); err != nil || term == 0 {
			return fmt.Errorf("the log has entries %d..%d but no current term", first, last)
		}
		return nil
	})
	if err != nil {
		return 0, 0, Damaged(path, reason(err))
	}
	return first, last, nil
}

// readEntry reads entry i once from the store: a sealed entry is intact
// if it opens (the cipher authenticates it); a plain command must at least
// decode.
func readEntry(logs raft.LogStore, i uint64) (raft.Log, error) {
	var l raft.Log
	e, enc := logs.(encryptedLogs)
	if enc {
		if err := e.LogStore.GetLog(i, &l); err != nil {
			return l, fmt.Errorf("entry %d: %v", i, err)
		}
		if e.c.IsSealed(l.Data) {
			plain, err := e.c.Open(l.Data)
			if err != nil {
				return l, fmt.Errorf("entry %d: %v", i, err)
			}
			l.Data = plain
			return l, nil
		}
	} else if err := logs.GetLog(i, &l); err != nil {
		return l, fmt.Errorf("entry %d: %v", i, err)
	}
	if l.Type == raft.LogCommand {
		if err := proto.Unmarshal(l.Data, &api.RaftCommand{}); err != nil {
			return l, fmt.Errorf("entry %d does not decode: %v", i, err)
		}
	}
	return l, nil
}

// keyCurrentTerm is the stable-store key hashicorp/raft keeps its term under.
var keyCurrentTerm = []byte("CurrentTerm")

// checkSnapshots checks that every snapshot's metadata reads (raft would
// silently skip one that does not and restore an older one, whose later
// entries the log no longer has), that the newest opens (CRC, cipher) and
// decodes, and that the log continues where it ends.
func checkSnapshots(path, dir string, snaps raft.SnapshotStore, first, last uint64) error {
	entries, err := os.ReadDir(filepath.Join(dir, "snapshots"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return Damaged(path, reason(err))
	}
	for _, e := range entries {
		if !e.IsDir() || strings.HasSuffix(e.Name(), ".tmp") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, "snapshots", e.Name(), "meta.json"))
		var meta raft.SnapshotMeta
		if err == nil {
			err = json.Unmarshal(b, &meta)
		}
		if err != nil {
			return Damaged(path, fmt.Sprintf("snapshot %s: unreadable metadata: %v", e.Name(), reason(err)))
		}
	}
	list, err := snaps.List()
	if err != nil {
		return Damaged(path, reason(err))
	}
	if len(list) == 0 {
		if last > 0 && first > 1 {
			return Damaged(path, fmt.Sprintf("the log starts at entry %d and no snapshot holds the entries before it", first))
		}
		return nil
	}
	newest := list[0]
	err = guard(func() error {
		meta, rc, err := snaps.Open(newest.ID)
		if err != nil {
			return err
		}
		defer rc.Close()
		var b []byte
		if p, ok := rc.(*plainSnapshot); ok {
			b = p.b
		} else if b, err = io.ReadAll(rc); err != nil {
			return err
		}
		if e, ok := snaps.(encryptedSnapshots); ok && e.opened != nil {
			// Opened, so intact: the cipher authenticated it and raft's
			// CRC matched. Raft restores it next: keep it for that.
			e.opened.keep(newest.ID, meta, b)
			return nil
		}
		return proto.Unmarshal(b, &api.StoreSnapshot{})
	})
	if err != nil {
		return Damaged(path, fmt.Sprintf("snapshot %s: %s", newest.ID, reason(err)))
	}
	if last > 0 && first > newest.Index+1 {
		return Damaged(path, fmt.Sprintf("the log starts at entry %d but the newest snapshot ends at entry %d", first, newest.Index))
	}
	return nil
}

// reason is an error's text without the packages' prefixes.
func reason(err error) string {
	s := err.Error()
	for _, p := range []string{"raftnode: "} {
		s = strings.ReplaceAll(s, p, "")
	}
	return s
}
