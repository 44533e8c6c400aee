// Package raftnode replicates the store with hashicorp/raft: it is the
// store's Proposer on the leader and feeds every committed entry to the
// store as the FSM. It owns raft's log, stable and snapshot stores under the
// data dir; it does not know what the store holds.
package raftnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// ErrNoLeader is what writes fail with while the swarm has no leader.
var ErrNoLeader = errdefs.Unavailable("the swarm does not have a leader. It's possible that too few managers are online. Make sure more than half of the managers are online")

// CatchingUp is what a call gets from a leader that has not yet applied
// the entries committed before its term: serving it from the store would
// show state older than writes already acknowledged.
func CatchingUp(behind uint64) error {
	return errdefs.Unavailable("the manager is catching up (%d entries behind)", behind)
}

// Config configures a raft node.
type Config struct {
	// ID is the raft server ID: the node's ID.
	ID string
	// Addr is the address other managers reach this node's raft at.
	Addr string
	// DataDir holds raft.db and snapshots; empty means in memory (tests).
	DataDir string
	// Transport carries raft RPCs (a NetworkTransport over the cluster
	// port in the daemon, an in-memory one in tests).
	Transport raft.Transport
	// Bootstrap makes a new single-voter cluster if there is no state yet.
	Bootstrap bool
	// ApplyTimeout bounds a write when there is no quorum.
	ApplyTimeout time.Duration
	// Timing: raft's heartbeat/election timeouts and leader lease.
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout time.Duration
	// Compaction: every SnapshotInterval (checked at a random point
	// between it and twice it) raft snapshots the store once
	// SnapshotThreshold entries are past the last snapshot and they hold
	// half the last snapshot's size in bytes (snapshots.go), and keeps
	// TrailingLogs entries behind it, so a follower that falls further
	// behind catches up by InstallSnapshot instead of replaying the log.
	SnapshotThreshold, TrailingLogs uint64
	SnapshotInterval                time.Duration
	// Cipher, when set, seals raft entries and snapshots on disk (the
	// node's data encryption key); nil writes them plain.
	Cipher Cipher
	Logger *slog.Logger
}

// DefaultConfig returns the timings used on a LAN. A follower calls an
// election once it has not heard from the leader for HeartbeatTimeout
// (watchLeader checks that every 50 ms), so a dead leader is replaced in
// under a second. The leader steps down after 400 ms without a quorum
// (raft allows at most the heartbeat timeout, and watchLeader needs it a
// little shorter): a loaded manager that misses a few of its 50 ms
// heartbeats keeps leading instead of throwing the cluster into
// elections. Pre-vote keeps a follower that was starved of CPU from
// unseating a leader the others still hear.
func DefaultConfig() Config {
	return Config{
		ApplyTimeout:       5 * time.Second,
		HeartbeatTimeout:   500 * time.Millisecond,
		ElectionTimeout:    500 * time.Millisecond,
		LeaderLeaseTimeout: 400 * time.Millisecond,
		SnapshotThreshold:  2048,
		TrailingLogs:       1024,
		SnapshotInterval:   2 * time.Second,
	}
}

// Validate reports the first bad field.
func (c Config) Validate() error {
	switch {
	case c.ID == "":
		return errors.New("raftnode: no server ID")
	case c.Transport == nil:
		return errors.New("raftnode: no transport")
	case c.ApplyTimeout <= 0:
		return errors.New("raftnode: ApplyTimeout must be positive")
	case c.SnapshotThreshold == 0 || c.SnapshotInterval <= 0:
		return errors.New("raftnode: SnapshotThreshold and SnapshotInterval must be positive")
	}
	return nil
}

// Node is one raft member.
type Node struct {
	cfg   Config
	raft  *raft.Raft
	store *store.Store
	snaps raft.SnapshotStore
	logs  raft.LogStore
	close []io.Closer
	log   *slog.Logger
	done  chan struct{}

	// readyTerm is the leader term whose barrier has been applied here:
	// from then on this leader's store holds every acknowledged write.
	// policy says when to snapshot (snapshots.go).
	policy snapshotPolicy

	readyTerm atomic.Uint64
	readyMu   sync.Mutex
	barrier   *barrierCall // the barrier in flight, nil when none
}

// barrierCall is one barrier shared by every caller waiting for a term's
// readiness.
type barrierCall struct {
	term uint64
	done chan struct{}
	err  error
}

// New starts the raft member; st becomes its FSM and gets n as proposer.
func New(cfg Config, st *store.Store) (*Node, error) {
	rc, err := cfg.raftConfig()
	if err != nil {
		return nil, err
	}
	began := time.Now()
	n := &Node{cfg: cfg, store: st, log: cfg.Logger, done: make(chan struct{})}
	n.policy.threshold = cfg.SnapshotThreshold
	logs, stable, snaps, err := n.openStores(rc)
	if err != nil {
		return nil, err
	}
	if cfg.Bootstrap {
		has, err := raft.HasExistingState(logs, stable, snaps)
		if err != nil {
			n.closeStores()
			return nil, err
		}
		if !has {
			conf := raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: cfg.Transport.LocalAddr()}}}
			if err := raft.BootstrapCluster(rc, logs, stable, snaps, cfg.Transport, conf); err != nil {
				n.closeStores()
				return nil, fmt.Errorf("raftnode: bootstrap: %w", err)
			}
		}
	}
	n.snaps, n.logs = snaps, logs
	r, err := raft.NewRaft(rc, (*fsm)(n), logs, stable, snaps, cfg.Transport)
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("raftnode: %w", err)
	}
	n.raft = r
	if i, err := strconv.ParseUint(r.Stats()["last_snapshot_index"], 10, 64); err == nil {
		n.policy.began(i)
	}
	go n.snapshotLoop()
	st.SetProposer(n)
	if rc.HeartbeatTimeout > rc.LeaderLeaseTimeout {
		go n.watchLeader(rc.HeartbeatTimeout)
	}
	n.log.Info("raft started", "last_index", r.LastIndex(), "applied", r.AppliedIndex(), "took", time.Since(began).Round(time.Millisecond))
	return n, nil
}

// raftConfig validates cfg (filling its logger) and makes raft's config.
func (cfg *Config) raftConfig() (*raft.Config, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.SnapshotThreshold = raftThreshold // snapshotLoop decides, with cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	rc.Logger = hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: os.Stderr})
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("raftnode: %w", err)
	}
	return rc, nil
}

// openStores opens the log, stable and snapshot stores (in memory without
// a data dir), refusing damaged ones (damage.go); n.close gets what must be
// closed.
func (n *Node) openStores(rc *raft.Config) (logs raft.LogStore, stable raft.StableStore, snaps raft.SnapshotStore, err error) {
	cfg := n.cfg
	if cfg.DataDir == "" {
		mem := raft.NewInmemStore()
		return countingLogs{LogStore: mem, p: &n.policy}, mem, raft.NewInmemSnapshotStore(), nil
	}
	dir := filepath.Join(cfg.DataDir, "raft")
	// raft makes its snapshots directory 0755; both are made (or put back)
	// private here, at every start.
	for _, d := range []string{dir, filepath.Join(dir, "snapshots")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, nil, nil, err
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return nil, nil, nil, fmt.Errorf("raftnode: making %s private: %w", d, err)
		}
	}
	path := filepath.Join(dir, "raft.db")
	_, statErr := os.Stat(path)
	existed := statErr == nil
	if existed {
		if err := checkLogFile(path); err != nil {
			return nil, nil, nil, err
		}
	} else if entries, _ := os.ReadDir(filepath.Join(dir, "snapshots")); len(entries) > 0 {
		return nil, nil, nil, Damaged(path, "the file is missing but the snapshots are there: its raft term and vote are lost")
	}
	bolt, err := openLogStore(path)
	if err != nil {
		return nil, nil, nil, err
	}
	n.close = append(n.close, bolt)
	logs, stable = bolt, bolt
	fs, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, rc.Logger)
	if err != nil {
		n.closeStores()
		return nil, nil, nil, fmt.Errorf("raftnode: opening snapshot store: %w", err)
	}
	snaps = fs
	if cfg.Cipher != nil {
		logs = encryptedLogs{LogStore: bolt, c: cfg.Cipher}
		snaps = encryptedSnapshots{SnapshotStore: fs, c: cfg.Cipher, opened: &openedSnapshot{}}
	}
	if existed {
		began := time.Now()
		first, last, err := checkEntries(path, logs, stable)
		if err == nil {
			err = checkSnapshots(path, dir, snaps, first, last)
		}
		if err != nil {
			n.closeStores()
			return nil, nil, nil, err
		}
		n.log.Info("raft data checked", "entries", fmt.Sprintf("%d..%d", first, last), "took", time.Since(began).Round(time.Millisecond))
	}
	return countingLogs{LogStore: logs, p: &n.policy}, stable, snaps, nil
}

// ForceNewCluster rewrites the raft configuration in cfg.DataDir to this
// member alone (cfg.ID at cfg.Addr), keeping the state: a lone manager
// that lost its quorum for good becomes a one-manager cluster, as
// `swarm init --force-new-cluster` does. The member must not be running.
func ForceNewCluster(cfg Config) error {
	if cfg.DataDir == "" {
		return errors.New("raftnode: ForceNewCluster needs a data dir")
	}
	rc, err := cfg.raftConfig()
	if err != nil {
		return err
	}
	n := &Node{cfg: cfg, store: store.New(nil, nil), log: cfg.Logger, done: make(chan struct{})}
	logs, stable, snaps, err := n.openStores(rc)
	if err != nil {
		return err
	}
	defer n.closeStores()
	has, err := raft.HasExistingState(logs, stable, snaps)
	if err != nil {
		return err
	}
	if !has {
		return errdefs.FailedPrecondition("there is no raft state in %s to recover a cluster from", filepath.Join(cfg.DataDir, "raft"))
	}
	addr := raft.ServerAddress(cfg.Addr)
	if addr == "" {
		addr = cfg.Transport.LocalAddr()
	}
	conf := raft.Configuration{Servers: []raft.Server{{ID: raft.ServerID(cfg.ID), Suffrage: raft.Voter, Address: addr}}}
	if err := raft.RecoverCluster(rc, (*fsm)(n), logs, stable, snaps, cfg.Transport, conf); err != nil {
		return fmt.Errorf("raftnode: rewriting the raft configuration: %w", err)
	}
	return nil
}

func (n *Node) closeStores() {
	for _, c := range n.close {
		c.Close()
	}
}

// Propose replicates cmd; it implements store.Proposer. It fails with
// ErrNoLeader when the entry was certainly not appended (this node does not
// lead, or raft refused it before appending), and with an errdefs
// OutcomeUnknown error when it may have been appended but its fate is not
// known here: leadership lost before it committed, no quorum within
// ApplyTimeout, or ctx ended first.
func (n *Node) Propose(ctx context.Context, cmd *api.RaftCommand) error {
	if n.raft.State() != raft.Leader {
		return ErrNoLeader
	}
	b, err := proto.Marshal(cmd)
	if err != nil {
		return err
	}
	timeout := n.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	f := n.raft.Apply(b, timeout)
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	var timer <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout + 500*time.Millisecond)
		defer t.Stop()
		timer = t.C
	}
	unknown := func(why string, cause error) error {
		n.log.Warn("write outcome unknown", "why", why, "err", cause)
		return errdefs.OutcomeUnknown(checkCommand(cmd), cause)
	}
	// A caller that gave up hears so from its own context: at debug level,
	// since leader loops stopping at a lost leadership give up thousands
	// of writes at once (8,600 warnings in one manager's log at 100,000
	// tasks).
	gaveUp := func(cause error) error {
		n.log.Debug("write outcome unknown", "why", "the caller gave up", "err", cause)
		return errdefs.OutcomeUnknown(checkCommand(cmd), cause)
	}
	select {
	case err := <-done:
		switch {
		case err == nil:
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrEnqueueTimeout),
			errors.Is(err, raft.ErrLeadershipTransferInProgress):
			return ErrNoLeader // refused before it was appended
		case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrRaftShutdown):
			return unknown("leadership lost before the entry committed", err)
		default:
			return err
		}
		if resp, ok := f.Response().(error); ok && resp != nil {
			return resp
		}
		return nil
	case <-timer:
		return unknown("no quorum within the apply timeout", context.DeadlineExceeded)
	case <-ctx.Done():
		return gaveUp(ctx.Err())
	}
}

// checkCommand names the command that shows whether cmd was applied.
func checkCommand(cmd *api.RaftCommand) string {
	for _, a := range cmd.GetActions() {
		switch a.Target.(type) {
		case *api.StoreAction_Network:
			return "network ls"
		case *api.StoreAction_Node:
			return "node ls"
		case *api.StoreAction_Secret:
			return "secret ls"
		case *api.StoreAction_Config:
			return "config ls"
		}
	}
	return "service ls"
}

// IsLeader reports whether this node leads.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the leader's raft address and ID ("" when none is known).
func (n *Node) Leader() (addr, id string) {
	a, i := n.raft.LeaderWithID()
	return string(a), string(i)
}

// LeaderCh delivers leadership changes of this node (true: became leader).
func (n *Node) LeaderCh() <-chan bool { return n.raft.LeaderCh() }

// VerifyLeader confirms with a quorum that this node still leads, so a read
// served from its store is current.
func (n *Node) VerifyLeader() error {
	if err := n.raft.VerifyLeader().Error(); err != nil {
		return ErrNoLeader
	}
	return nil
}

// Ready returns nil once this leader has applied every entry committed
// before its term (one raft barrier per term, shared by all callers), so
// its store is no older than any acknowledged write. It fails with
// ErrNoLeader on a follower and with CatchingUp when ctx ends first.
func (n *Node) Ready(ctx context.Context) error {
	term := n.raft.CurrentTerm()
	if n.raft.State() != raft.Leader {
		return ErrNoLeader
	}
	if n.readyTerm.Load() == term {
		return nil
	}
	n.readyMu.Lock()
	c := n.barrier
	if c == nil || c.term != term {
		c = &barrierCall{term: term, done: make(chan struct{})}
		n.barrier = c
		go n.runBarrier(c)
	}
	n.readyMu.Unlock()
	select {
	case <-c.done:
		if c.err != nil {
			return c.err
		}
		return nil
	case <-ctx.Done():
		return CatchingUp(n.Behind())
	case <-n.done:
		return ErrNoLeader
	}
}

// runBarrier applies a barrier for c's term and records the term ready if
// this node still leads in it.
func (n *Node) runBarrier(c *barrierCall) {
	defer close(c.done)
	err := n.raft.Barrier(0).Error()
	n.readyMu.Lock()
	if n.barrier == c {
		n.barrier = nil
	}
	n.readyMu.Unlock()
	switch {
	case err != nil:
		c.err = ErrNoLeader
	case n.raft.CurrentTerm() != c.term || n.raft.State() != raft.Leader:
		c.err = ErrNoLeader
	default:
		n.readyTerm.Store(c.term)
	}
}

// Behind is how many entries of this member's log are not yet applied to
// its store.
func (n *Node) Behind() uint64 {
	last, applied := n.raft.LastIndex(), n.raft.AppliedIndex()
	if applied >= last {
		return 0
	}
	return last - applied
}

// Barrier waits until every entry committed before it is applied here.
func (n *Node) Barrier(timeout time.Duration) error { return n.raft.Barrier(timeout).Error() }

// Member is one manager in the raft configuration.
type Member struct {
	ID, Addr string
	Voter    bool
}

// Members returns the current raft configuration.
func (n *Node) Members() ([]Member, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, err
	}
	var out []Member
	for _, s := range f.Configuration().Servers {
		out = append(out, Member{ID: string(s.ID), Addr: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	return out, nil
}

// AddVoter adds (or re-addresses) a manager. Leader only.
func (n *Node) AddVoter(id, addr string) error {
	if err := n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, 10*time.Second).Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) {
			return ErrNoLeader
		}
		return fmt.Errorf("raftnode: adding %s: %w", id, err)
	}
	return nil
}

// RemoveServer removes a manager from the configuration. Leader only.
func (n *Node) RemoveServer(id string) error {
	if err := n.raft.RemoveServer(raft.ServerID(id), 0, 10*time.Second).Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) {
			return ErrNoLeader
		}
		return fmt.Errorf("raftnode: removing %s: %w", id, err)
	}
	return nil
}

// Observe calls fn with raft's observations (heartbeat failures and
// resumptions, leader changes) until Shutdown.
func (n *Node) Observe(fn func(raft.Observation)) {
	ch := make(chan raft.Observation, 64)
	obs := raft.NewObserver(ch, false, nil)
	n.raft.RegisterObserver(obs)
	go func() {
		for {
			select {
			case o := <-ch:
				fn(o)
			case <-n.done:
				n.raft.DeregisterObserver(obs)
				return
			}
		}
	}()
}

// TransferLeadership asks raft to hand leadership to another voter.
func (n *Node) TransferLeadership() error { return n.raft.LeadershipTransfer().Error() }

// TransferLeadershipTo hands leadership to the member id at addr.
func (n *Node) TransferLeadershipTo(id, addr string) error {
	return n.raft.LeadershipTransferToServer(raft.ServerID(id), raft.ServerAddress(addr)).Error()
}

// LastContact is when a follower last heard from the leader.
func (n *Node) LastContact() time.Time { return n.raft.LastContact() }

// Stats exposes raft's own counters (for `minsw info`-like output).
func (n *Node) Stats() map[string]string { return n.raft.Stats() }

// Shutdown stops raft and closes the stores; the FSM state stays in memory.
func (n *Node) Shutdown() error {
	select {
	case <-n.done:
		return nil
	default:
		close(n.done)
	}
	n.snapshotAtStop()
	err := n.raft.Shutdown().Error()
	n.closeStores()
	return err
}

// fsm adapts the store to raft.FSM.
type fsm Node

func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	var cmd api.RaftCommand
	if err := proto.Unmarshal(l.Data, &cmd); err != nil {
		return fmt.Errorf("raftnode: undecodable entry %d: %w", l.Index, err)
	}
	if err := f.store.Apply(l.Index, &cmd); err != nil {
		return err
	}
	return nil
}

// Snapshot captures the store as it is now (a consistent read of
// immutable objects, so taking it costs pointers, not copies) and leaves
// the encoding to Persist, which raft runs off the FSM's goroutine: applying
// entries does not wait while a large store is marshalled.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	if f.raft != nil {
		f.policy.began(f.raft.AppliedIndex())
	}
	return &snapshot{state: f.store.Save(), policy: &f.policy}, nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	resume := pauseGC() // see gcpause.go
	restored := false
	defer func() {
		if !restored {
			resume()
		}
	}()
	var b []byte
	if p, ok := unwrapSnapshot(rc).(*plainSnapshot); ok {
		b = p.take() // already in memory, opened: no second copy
	} else {
		var err error
		if b, err = io.ReadAll(rc); err != nil {
			return err
		}
	}
	var snap api.StoreSnapshot
	if err := proto.Unmarshal(b, &snap); err != nil {
		return fmt.Errorf("raftnode: undecodable snapshot: %w", err)
	}
	f.policy.taken(uint64(len(b)))
	b = nil
	if err := f.store.Restore(&snap); err != nil {
		return err
	}
	// A restore reads the snapshot file, opens it and decodes it: the
	// transient copies are several times the store's size. Hand their
	// pages back now rather than keep a restarted manager's resident size
	// at that peak. That collection marks the whole new store (a fifth of
	// a 100,000-task restore's CPU): it runs beside raft's start, not
	// before it, so a restarted manager stands and votes meanwhile.
	snap = api.StoreSnapshot{}
	restored = true
	go func() {
		debug.FreeOSMemory()
		resume()
	}()
	return nil
}

// unwrapSnapshot is the reader raft opened, under the wrappers raft puts
// around it (a byte counter for its progress log): a restore that saw
// only the wrapper copied an opened snapshot whole, and kept the opened
// one alive until raft dropped it.
func unwrapSnapshot(rc io.ReadCloser) io.ReadCloser {
	for {
		w, ok := rc.(raft.ReadCloserWrapper)
		if !ok {
			return rc
		}
		rc = w.WrappedReadCloser()
	}
}

type snapshot struct {
	state  *api.StoreSnapshot
	policy *snapshotPolicy
}

func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	b, err := proto.Marshal(s.state)
	if err != nil {
		sink.Cancel()
		return err
	}
	s.policy.taken(uint64(len(b)))
	if ss, ok := sink.(*sealingSink); ok {
		err = ss.writeWhole(b) // sealed as it is, without a buffered copy
	} else {
		_, err = sink.Write(b)
	}
	if err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *snapshot) Release() { s.state = nil }

// CaughtUp says whether every entry this member's log held when it started
// has been applied (its store is no older than its disk): decisions taken
// from the store at a restart wait for it.
func (n *Node) CaughtUp(lastAtStart uint64) bool { return n.raft.AppliedIndex() >= lastAtStart }

// LastIndex is the index of the last entry in this member's log.
func (n *Node) LastIndex() uint64 { return n.raft.LastIndex() }
