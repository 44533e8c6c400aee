// Package gossip owns cluster membership between nodes (hashicorp/memberlist)
// and, on top of it, the per-network endpoint table: entries keyed by
// (network, key), spread by broadcast and periodic push/pull, last writer
// wins by lamport time, deletes kept as tombstones for a while, and a dead
// node's entries dropped everywhere. A node keeps and serves only the
// networks it joined. It knows nothing of what the values mean beyond the
// Endpoint helper, and must not program the kernel: subscribers do.
package gossip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Config tunes a DB. Start from DefaultConfig.
type Config struct {
	// NodeName is this node's unique name in the cluster.
	NodeName string
	// Hostname is the name other nodes show for this one (network
	// inspect's Peers, as docker's); memberlist carries it as node metadata.
	Hostname string
	// BindAddr and BindPort are where memberlist listens (UDP and TCP).
	BindAddr string
	BindPort int
	// AdvertiseAddr and AdvertisePort are what other nodes dial; empty/zero
	// means the bind address and port.
	AdvertiseAddr string
	AdvertisePort int
	// Keyring, when not empty, encrypts gossip: the first key is used to
	// send, all are tried to receive (rotation). Keys are 16, 24 or 32
	// bytes (AES-128/192/256).
	Keyring [][]byte

	// Failure detection. A dead node is probed (ProbeInterval, ProbeTimeout),
	// suspected, and declared dead after SuspicionMult*ProbeInterval (less
	// than 10 nodes), up to SuspicionMaxTimeoutMult times that while no other
	// node confirms the suspicion.
	ProbeInterval           time.Duration
	ProbeTimeout            time.Duration
	SuspicionMult           int
	SuspicionMaxTimeoutMult int
	GossipInterval          time.Duration
	// PushPullInterval is how often a full state exchange runs with one
	// random node, repairing whatever broadcasts missed.
	PushPullInterval time.Duration
	// ReapAfter is how long a delete is remembered (as a tombstone) so that
	// older news of the entry is refused. It must exceed the time the
	// delete takes to reach every node, push/pull included.
	ReapAfter time.Duration

	Logger *slog.Logger
	// Now is the clock tombstones are timed by.
	Now func() time.Time
}

// DefaultConfig is tuned for a LAN where a killed node's entries must be
// gone from every other node within about two seconds: memberlist's LAN
// defaults probe each second and suspect for 4 s or more (5-6 s to declare a
// node dead in a small cluster); here probes run every 300 ms with a 150 ms
// timeout and a node is declared dead 0.9 s after it is suspected when a
// second node confirms (3.6 s at most without confirmation). A LAN's round
// trip is well under a millisecond, so 150 ms still leaves a wide margin
// before a live but busy node is suspected, and memberlist's own health
// awareness stretches the timeouts when this node is the slow one.
func DefaultConfig(nodeName string) Config {
	return Config{
		NodeName:                nodeName,
		BindAddr:                "0.0.0.0",
		BindPort:                7946,
		ProbeInterval:           300 * time.Millisecond,
		ProbeTimeout:            150 * time.Millisecond,
		SuspicionMult:           3,
		SuspicionMaxTimeoutMult: 4,
		GossipInterval:          100 * time.Millisecond,
		PushPullInterval:        10 * time.Second,
		ReapAfter:               5 * time.Minute,
		Logger:                  slog.Default(),
		Now:                     time.Now,
	}
}

func (c *Config) validate() error {
	var errs []error
	if c.NodeName == "" {
		errs = append(errs, errors.New("no NodeName"))
	}
	if len(c.NodeName) > maxNameLen {
		errs = append(errs, fmt.Errorf("NodeName longer than %d bytes", maxNameLen))
	}
	if c.BindPort < 0 || c.BindPort > 65535 || c.AdvertisePort < 0 || c.AdvertisePort > 65535 {
		errs = append(errs, errors.New("port out of range"))
	}
	for i, k := range c.Keyring {
		if err := memberlist.ValidateKey(k); err != nil {
			errs = append(errs, fmt.Errorf("key %d: %w", i, err))
		}
	}
	if c.ProbeInterval <= 0 || c.ProbeTimeout <= 0 || c.ProbeTimeout >= c.ProbeInterval {
		errs = append(errs, errors.New("ProbeTimeout must be positive and under ProbeInterval"))
	}
	if c.SuspicionMult < 1 || c.SuspicionMaxTimeoutMult < 1 || c.GossipInterval <= 0 || c.PushPullInterval <= 0 || c.ReapAfter <= 0 {
		errs = append(errs, errors.New("SuspicionMult, SuspicionMaxTimeoutMult, GossipInterval, PushPullInterval and ReapAfter must be positive"))
	}
	if c.ReapAfter < 3*c.PushPullInterval {
		// A tombstone reaped before every node heard of the delete lets a
		// node that missed it push the entry back.
		errs = append(errs, fmt.Errorf("ReapAfter %v must be at least three PushPullIntervals (%v)", c.ReapAfter, 3*c.PushPullInterval))
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("gossip: config: %w", err)
	}
	return nil
}

// Errors returned by table operations; test with errors.Is.
var (
	ErrNotJoined = errors.New("network not joined")
	ErrExists    = errors.New("entry already exists")
	ErrNotFound  = errors.New("entry not found")
	ErrInvalid   = errors.New("invalid argument")
)

// DB is one node's membership and endpoint table.
type DB struct {
	cfg   Config
	log   *slog.Logger
	ml    *memberlist.Memberlist
	keys  *memberlist.Keyring // nil without encryption
	queue *memberlist.TransmitLimitedQueue

	mu   sync.Mutex
	t    *table
	subs map[*subscriber]struct{}

	numNodes  atomic.Int32 // live members, for the broadcast queue (no memberlist lock)
	malformed atomic.Uint64
	syncReq   chan string // node names to push/pull with
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New starts memberlist on the configured address. The node is alone until
// Join.
func New(cfg Config) (*DB, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	d := &DB{
		cfg:     cfg,
		log:     cfg.Logger.With("node", cfg.NodeName),
		t:       newTable(cfg.NodeName, cfg.ReapAfter),
		subs:    make(map[*subscriber]struct{}),
		syncReq: make(chan string, 64),
		stop:    make(chan struct{}),
	}
	d.numNodes.Store(1)
	d.queue = &memberlist.TransmitLimitedQueue{
		NumNodes:       func() int { return int(d.numNodes.Load()) },
		RetransmitMult: 3,
	}

	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.NodeName
	mc.BindAddr = cfg.BindAddr
	mc.BindPort = cfg.BindPort
	mc.AdvertiseAddr = cfg.AdvertiseAddr
	mc.AdvertisePort = cfg.AdvertisePort
	if mc.AdvertisePort == 0 {
		mc.AdvertisePort = cfg.BindPort
	}
	mc.ProbeInterval = cfg.ProbeInterval
	mc.ProbeTimeout = cfg.ProbeTimeout
	mc.SuspicionMult = cfg.SuspicionMult
	mc.SuspicionMaxTimeoutMult = cfg.SuspicionMaxTimeoutMult
	mc.GossipInterval = cfg.GossipInterval
	mc.PushPullInterval = cfg.PushPullInterval
	mc.TCPTimeout = 2 * time.Second
	mc.Delegate = &delegate{d}
	mc.Events = &events{d}
	mc.Logger = log.New(&logWriter{d.log}, "", 0)
	if len(cfg.Keyring) > 0 {
		kr, err := memberlist.NewKeyring(cfg.Keyring[1:], cfg.Keyring[0])
		if err != nil {
			return nil, fmt.Errorf("gossip: keyring: %w", err)
		}
		mc.Keyring = kr
		d.keys = kr
		mc.GossipVerifyIncoming = true
		mc.GossipVerifyOutgoing = true
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("gossip: start memberlist on %s:%d: %w", cfg.BindAddr, cfg.BindPort, err)
	}
	d.ml = ml
	d.wg.Add(2)
	go d.syncLoop()
	go d.reapLoop()
	return d, nil
}

// Join contacts the given peers ("host:port") and merges state with them.
// It succeeds if at least one answered.
func (d *DB) Join(ctx context.Context, peers []string) (int, error) {
	type res struct {
		n   int
		err error
	}
	ch := make(chan res, 1)
	go func() { n, err := d.ml.Join(peers); ch <- res{n, err} }()
	select {
	case r := <-ch:
		if r.err != nil && r.n == 0 {
			return 0, fmt.Errorf("gossip: join %v: %w", peers, r.err)
		}
		return r.n, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Member is a live node as membership sees it.
type Member struct {
	Name string
	Addr string // host:port of its gossip endpoint
	// Hostname is the node's own Config.Hostname ("" from a node that
	// sends none).
	Hostname string
}

// Members lists the live nodes, this one included.
func (d *DB) Members() []Member {
	var out []Member
	for _, n := range d.ml.Members() {
		out = append(out, Member{Name: n.Name, Addr: net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))), Hostname: string(n.Meta)})
	}
	return out
}

// LocalAddr is this node's advertised gossip address.
func (d *DB) LocalAddr() string {
	n := d.ml.LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// NodeName is this node's name.
func (d *DB) NodeName() string { return d.cfg.NodeName }

// MalformedMessages counts gossip messages ignored because they did not
// decode.
func (d *DB) MalformedMessages() uint64 { return d.malformed.Load() }

// SetKeys replaces the gossip keyring (rotation): keys[0] becomes the key
// used to send, the others stay accepted, any other key is dropped. The DB
// must have been created with a keyring.
func (d *DB) SetKeys(keys [][]byte) error {
	kr := d.keys
	if kr == nil || len(keys) == 0 {
		return fmt.Errorf("gossip: set keys: %w: gossip was started without encryption, or no keys given", ErrInvalid)
	}
	for _, k := range keys {
		if err := kr.AddKey(k); err != nil {
			return fmt.Errorf("gossip: set keys: %w", err)
		}
	}
	if err := kr.UseKey(keys[0]); err != nil {
		return fmt.Errorf("gossip: set keys: %w", err)
	}
	for _, old := range kr.GetKeys() {
		keep := false
		for _, k := range keys {
			keep = keep || bytes.Equal(k, old)
		}
		if !keep {
			if err := kr.RemoveKey(old); err != nil {
				return fmt.Errorf("gossip: set keys: %w", err)
			}
		}
	}
	return nil
}

// Leave tells the cluster this node is going (its entries go at once on the
// other nodes) and then shuts down.
func (d *DB) Leave(timeout time.Duration) error {
	select {
	case <-d.stop: // already closed: memberlist panics on a leave after shutdown
		return nil
	default:
	}
	err := d.ml.Leave(timeout)
	return errors.Join(err, d.Close())
}

// Close stops gossiping without a word to the others, who will find the
// node dead; subscriber channels are closed.
func (d *DB) Close() error {
	var err error
	d.closeOnce.Do(func() {
		err = d.ml.Shutdown()
		close(d.stop)
		d.wg.Wait()
		d.mu.Lock()
		subs := d.subs
		d.subs = map[*subscriber]struct{}{}
		d.mu.Unlock()
		for s := range subs {
			s.cancel()
		}
	})
	return err
}

// JoinNetwork starts keeping network's entries, and fetches them from
// nodes already on it.
func (d *DB) JoinNetwork(network string) error {
	if err := checkName("network", network); err != nil {
		return err
	}
	d.mu.Lock()
	_, already := d.t.nets[network]
	o := d.t.joinNetwork(network)
	peers := d.t.peersOn(network)
	d.apply(o)
	d.mu.Unlock()
	if already {
		return nil
	}
	if len(peers) == 0 { // nobody known on it yet: ask anyone
		for _, m := range d.ml.Members() {
			if m.Name != d.cfg.NodeName {
				peers = append(peers, m.Name)
			}
		}
	}
	rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
	for _, p := range peers[:min(len(peers), 2)] {
		d.requestSync(p)
	}
	return nil
}

// LeaveNetwork forgets network's entries here (subscribers get deletes) and
// has the other nodes drop this node's entries on it.
func (d *DB) LeaveNetwork(network string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.t.nets[network]; !ok {
		return fmt.Errorf("gossip: leave network %s: %w", network, ErrNotJoined)
	}
	d.apply(d.t.leaveNetwork(network))
	return nil
}

// Networks lists the networks this node joined.
func (d *DB) Networks() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return sortedKeys(d.t.nets)
}

// CreateEntry adds key to network's table; it fails if the key is live.
func (d *DB) CreateEntry(network, key string, value []byte) error {
	return d.write("create", network, key, value, func(e *entry) error {
		if e != nil && !e.deleted {
			return ErrExists
		}
		return nil
	})
}

// UpdateEntry replaces the value of a live key.
func (d *DB) UpdateEntry(network, key string, value []byte) error {
	return d.write("update", network, key, value, func(e *entry) error {
		if e == nil || e.deleted {
			return ErrNotFound
		}
		return nil
	})
}

// PutEntry creates or updates key.
func (d *DB) PutEntry(network, key string, value []byte) error {
	return d.write("put", network, key, value, func(*entry) error { return nil })
}

// DeleteEntry removes a live key; the delete is remembered for ReapAfter.
func (d *DB) DeleteEntry(network, key string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	es, ok := d.t.nets[network]
	if !ok {
		return fmt.Errorf("gossip: delete %s/%s: %w", network, key, ErrNotJoined)
	}
	if e := es[key]; e == nil || e.deleted {
		return fmt.Errorf("gossip: delete %s/%s: %w", network, key, ErrNotFound)
	}
	d.apply(d.t.write(network, key, nil, true, d.cfg.Now()))
	return nil
}

func (d *DB) write(op, network, key string, value []byte, check func(*entry) error) error {
	if err := checkName("key", key); err != nil {
		return err
	}
	if len(value) > maxValue {
		return fmt.Errorf("gossip: %s %s/%s: %w: value of %d bytes exceeds %d", op, network, key, ErrInvalid, len(value), maxValue)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	es, ok := d.t.nets[network]
	if !ok {
		return fmt.Errorf("gossip: %s %s/%s: %w", op, network, key, ErrNotJoined)
	}
	if err := check(es[key]); err != nil {
		return fmt.Errorf("gossip: %s %s/%s: %w", op, network, key, err)
	}
	d.apply(d.t.write(network, key, bytes.Clone(value), false, d.cfg.Now()))
	return nil
}

// GetEntry returns a live entry.
func (d *DB) GetEntry(network, key string) (Entry, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	es, ok := d.t.nets[network]
	if !ok {
		return Entry{}, fmt.Errorf("gossip: get %s/%s: %w", network, key, ErrNotJoined)
	}
	e := es[key]
	if e == nil || e.deleted {
		return Entry{}, fmt.Errorf("gossip: get %s/%s: %w", network, key, ErrNotFound)
	}
	return Entry{Network: network, Key: key, Value: e.value, Owner: e.owner, LTime: e.ltime}, nil
}

// Entries lists network's live entries sorted by key.
func (d *DB) Entries(network string) []Entry {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.entriesLocked(network)
}

func (d *DB) entriesLocked(network string) []Entry {
	es := d.t.nets[network]
	var out []Entry
	for _, k := range sortedKeys(es) {
		if e := es[k]; !e.deleted {
			out = append(out, Entry{Network: network, Key: k, Value: e.value, Owner: e.owner, LTime: e.ltime})
		}
	}
	return out
}

func checkName(what, s string) error {
	if s == "" || len(s) > maxNameLen {
		return fmt.Errorf("gossip: %w: %s %q must be 1 to %d bytes", ErrInvalid, what, s, maxNameLen)
	}
	return nil
}

// apply hands a table operation's results on; d.mu must be held, so events
// reach subscribers in table order.
func (d *DB) apply(o out) {
	for _, b := range o.broadcasts {
		d.queue.QueueBroadcast(broadcast(b))
	}
	if len(o.events) == 0 {
		return
	}
	for s := range d.subs {
		s.push(o.events)
	}
}

// requestSync asks for a push/pull with node, without blocking (the caller
// may be inside memberlist, holding its locks).
func (d *DB) requestSync(node string) {
	select {
	case d.syncReq <- node:
	default: // the periodic push/pull will do
	}
}

func (d *DB) syncLoop() {
	defer d.wg.Done()
	for {
		select {
		case <-d.stop:
			return
		case node := <-d.syncReq:
			var addr string
			for _, m := range d.ml.Members() {
				if m.Name == node {
					addr = net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port)))
				}
			}
			if addr == "" {
				continue
			}
			// Join with a known member is a full push/pull with it.
			if _, err := d.ml.Join([]string{addr}); err != nil {
				d.log.Debug("gossip: sync failed", "peer", node, "err", err)
			}
		}
	}
}

func (d *DB) reapLoop() {
	defer d.wg.Done()
	tk := time.NewTicker(min(d.cfg.ReapAfter/4, 30*time.Second))
	defer tk.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-tk.C:
			d.mu.Lock()
			d.t.reap(d.cfg.Now())
			d.mu.Unlock()
		}
	}
}

// broadcast is a queued message. Messages are never invalidated by later
// ones: an entry's older news is harmless (refused by lamport time) and
// dropping it could lose a create that a later update depends on nowhere.
type broadcast []byte

func (b broadcast) Invalidates(memberlist.Broadcast) bool { return false }
func (b broadcast) Message() []byte                       { return b }
func (b broadcast) Finished()                             {}
func (b broadcast) UniqueBroadcast()                      {}

// delegate receives memberlist's user-data callbacks.
type delegate struct{ d *DB }

func (g *delegate) NodeMeta(limit int) []byte { return hostnameMeta(g.d.cfg.Hostname, limit) }

func (g *delegate) NotifyMsg(b []byte) {
	g.d.receive(b)
}

func (g *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return g.d.queue.GetBroadcasts(overhead, limit)
}

func (g *delegate) LocalState(bool) []byte {
	g.d.mu.Lock()
	s := g.d.t.state()
	g.d.mu.Unlock()
	return encodeState(s)
}

func (g *delegate) MergeRemoteState(b []byte, _ bool) {
	g.d.receive(b)
}

// receive applies one message from another node; messages that do not
// decode are counted and dropped.
func (d *DB) receive(b []byte) {
	m, err := decode(b)
	if err != nil {
		d.malformed.Add(1)
		d.log.Debug("gossip: dropped malformed message", "err", err, "bytes", len(b))
		return
	}
	now := d.cfg.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case m.entry != nil:
		o, changed := d.t.mergeEntry(m.entry, now)
		if changed { // pass news on, once; memberlist reuses b
			o.broadcasts = append(o.broadcasts, bytes.Clone(b))
		}
		d.apply(o)
	case m.member != nil:
		o, changed := d.t.mergeMember(m.member)
		if changed {
			o.broadcasts = append(o.broadcasts, bytes.Clone(b))
		}
		d.apply(o)
	case m.state != nil:
		d.apply(d.t.mergeState(m.state, now))
	}
}

// events receives memberlist's membership callbacks, which run with
// memberlist's node lock held: they must not call back into memberlist.
type events struct{ d *DB }

func (e *events) NotifyJoin(n *memberlist.Node) {
	if n.Name == e.d.cfg.NodeName {
		return
	}
	e.d.numNodes.Add(1)
	e.d.mu.Lock()
	e.d.t.nodeBack(n.Name)
	e.d.mu.Unlock()
	e.d.log.Info("gossip: node joined", "peer", n.Name, "addr", n.Address())
	// Fetch its entries (and hand it ours) now rather than at the next
	// periodic push/pull: broadcasts it made before we knew it are lost.
	e.d.requestSync(n.Name)
}

func (e *events) NotifyLeave(n *memberlist.Node) {
	if n.Name == e.d.cfg.NodeName {
		return
	}
	e.d.numNodes.Add(-1)
	e.d.mu.Lock()
	o := e.d.t.nodeGone(n.Name)
	e.d.apply(o)
	e.d.mu.Unlock()
	e.d.log.Info("gossip: node gone", "peer", n.Name, "state", n.State, "entries_dropped", len(o.events))
}

func (e *events) NotifyUpdate(*memberlist.Node) {}

// logWriter turns memberlist's "[LEVEL] memberlist: text" lines into slog
// records.
type logWriter struct{ l *slog.Logger }

func (w *logWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	lvl := slog.LevelInfo
	for prefix, l := range map[string]slog.Level{"[DEBUG] ": slog.LevelDebug, "[INFO] ": slog.LevelInfo, "[WARN] ": slog.LevelWarn, "[ERR] ": slog.LevelError} {
		if rest, ok := bytes.CutPrefix([]byte(line), []byte(prefix)); ok {
			lvl, line = l, string(rest)
			break
		}
	}
	w.l.Log(context.Background(), lvl, line)
	return len(p), nil
}
