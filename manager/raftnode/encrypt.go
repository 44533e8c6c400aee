package raftnode

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"
)

// Cipher seals what raft writes to disk and opens what it reads back. The
// manager's is AES-GCM under the node's data encryption key; IsSealed
// tells values from before encryption was on, which are read as they are.
type Cipher interface {
	Seal(plain []byte) ([]byte, error)
	Open(sealed []byte) ([]byte, error)
	IsSealed(b []byte) bool
}

// encryptedLogs seals the data of every entry raft stores (commands,
// configurations) and opens it on the way back; index, term and type stay
// plain, as raft's bookkeeping needs them. Raft keeps the *raft.Log it
// stores for replication, so entries are copied, never sealed in place.
type encryptedLogs struct {
	raft.LogStore
	c Cipher
}

func (e encryptedLogs) GetLog(index uint64, out *raft.Log) error {
	if err := e.LogStore.GetLog(index, out); err != nil {
		return err
	}
	if !e.c.IsSealed(out.Data) {
		return nil
	}
	plain, err := e.c.Open(out.Data)
	if err != nil {
		return fmt.Errorf("raftnode: raft entry %d: %w", index, err)
	}
	out.Data = plain
	return nil
}

func (e encryptedLogs) StoreLog(l *raft.Log) error { return e.StoreLogs([]*raft.Log{l}) }

func (e encryptedLogs) StoreLogs(logs []*raft.Log) error {
	sealed := make([]*raft.Log, len(logs))
	for i, l := range logs {
		cp := *l
		if len(l.Data) > 0 {
			b, err := e.c.Seal(l.Data)
			if err != nil {
				return err
			}
			cp.Data = b
		}
		sealed[i] = &cp
	}
	return e.LogStore.StoreLogs(sealed)
}

// encryptedSnapshots seals each snapshot as a whole when its sink closes
// (a manager's snapshot is one marshalled store, already in memory) and
// opens it whole; Open reports the plain size, which raft sends to a
// follower installing the snapshot.
type encryptedSnapshots struct {
	raft.SnapshotStore
	c Cipher
	// opened keeps the last snapshot opened, plain, for the next Open of
	// the same one: the damage check at start opens the newest snapshot
	// and raft's restore then opens it again (a large store is read,
	// checked and decrypted once).
	opened *openedSnapshot
}

type openedSnapshot struct {
	mu   sync.Mutex
	id   string
	meta *raft.SnapshotMeta
	b    []byte
}

// keep holds a snapshot just opened for the next Open of the same one.
func (o *openedSnapshot) keep(id string, meta *raft.SnapshotMeta, b []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.id, o.meta, o.b = id, meta, b
}

// take returns the kept snapshot id once (nil if another is kept).
func (o *openedSnapshot) take(id string) (*raft.SnapshotMeta, []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.id != id || o.b == nil {
		return nil, nil
	}
	m, b := *o.meta, o.b
	o.id, o.meta, o.b = "", nil, nil
	return &m, b
}

func (e encryptedSnapshots) Create(version raft.SnapshotVersion, index, term uint64, conf raft.Configuration, confIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	sink, err := e.SnapshotStore.Create(version, index, term, conf, confIndex, trans)
	if err != nil {
		return nil, err
	}
	return &sealingSink{SnapshotSink: sink, c: e.c}, nil
}

func (e encryptedSnapshots) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	if e.opened != nil {
		if m, b := e.opened.take(id); m != nil {
			return m, newPlainSnapshot(b), nil
		}
	}
	meta, rc, err := e.SnapshotStore.Open(id)
	if err != nil {
		return nil, nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, nil, err
	}
	if e.c.IsSealed(b) {
		if b, err = e.c.Open(b); err != nil {
			return nil, nil, fmt.Errorf("raftnode: snapshot %s: %w", id, err)
		}
	}
	m := *meta
	m.Size = int64(len(b))
	return &m, newPlainSnapshot(b), nil
}

// plainSnapshot is an opened snapshot held in memory; the FSM's Restore
// decodes its bytes as they are instead of reading them into another copy.
type plainSnapshot struct {
	*bytes.Reader
	b []byte
}

func newPlainSnapshot(b []byte) *plainSnapshot {
	return &plainSnapshot{Reader: bytes.NewReader(b), b: b}
}

func (*plainSnapshot) Close() error { return nil }

// take hands the snapshot's bytes over and forgets them (reading it after
// that reads nothing): the caller decodes them and drops them, and they
// are garbage then, not held until raft lets go of the reader. A restore
// collects right after decoding (fsm.Restore), and that collection found
// a 100,000-task store's 25 MB still referenced here, on every manager.
func (p *plainSnapshot) take() []byte {
	b := p.b
	p.b, p.Reader = nil, bytes.NewReader(nil)
	return b
}

// sealingSink buffers a snapshot and seals it whole on Close. Close (and
// Cancel) may be called more than once: hashicorp/raft closes the sink
// again after the FSM snapshot's Persist closed it, and a second seal
// written to the already closed file would fail every snapshot.
type sealingSink struct {
	raft.SnapshotSink
	c      Cipher
	buf    bytes.Buffer
	whole  []byte // a whole snapshot handed over by writeWhole
	closed bool
	err    error // the first Close's (or Cancel's) outcome
}

func (s *sealingSink) Write(p []byte) (int, error) {
	if s.closed {
		return 0, errors.New("raftnode: write to a closed snapshot sink")
	}
	if s.whole != nil {
		s.buf.Write(s.whole)
		s.whole = nil
	}
	return s.buf.Write(p)
}

// writeWhole takes a whole snapshot at once: it is sealed from p itself
// on Close, not from a buffered copy of it. p must not change until then.
func (s *sealingSink) writeWhole(p []byte) error {
	if s.closed {
		return errors.New("raftnode: write to a closed snapshot sink")
	}
	if s.buf.Len() > 0 || s.whole != nil {
		_, err := s.Write(p)
		return err
	}
	s.whole = p
	return nil
}

func (s *sealingSink) Close() error {
	if s.closed {
		return s.err
	}
	s.closed = true
	s.err = s.seal()
	s.buf, s.whole = bytes.Buffer{}, nil
	return s.err
}

func (s *sealingSink) seal() error {
	plain := s.whole
	if plain == nil {
		plain = s.buf.Bytes()
	}
	b, err := s.c.Seal(plain)
	if err != nil {
		s.SnapshotSink.Cancel()
		return err
	}
	if _, err := s.SnapshotSink.Write(b); err != nil {
		s.SnapshotSink.Cancel()
		return err
	}
	return s.SnapshotSink.Close()
}

func (s *sealingSink) Cancel() error {
	if s.closed {
		return s.err
	}
	s.closed = true
	s.buf, s.whole = bytes.Buffer{}, nil
	s.err = s.SnapshotSink.Cancel()
	return s.err
}
