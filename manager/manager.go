// Package manager wires one swarm manager together and runs it: the raft
// member and its store, the cluster port (raft and gRPC on one listener)
// with its one edge (auth, then forward-to-leader), the Control, Dispatcher
// and Membership APIs, and, while this manager leads, the leader loops
// (allocator, orchestrator, updater, scheduler, dispatcher, role manager,
// CA root rotation, gossip keys). Each job lives in its own package; this
// one only connects them. It does not run containers; the node's agent
// does, as for any worker.
package manager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/soheilhy/cmux"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/test/bufconn"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/allocator"
	"github.com/minsw/minsw/manager/auth"
	"github.com/minsw/minsw/manager/ca"
	"github.com/minsw/minsw/manager/caserver"
	"github.com/minsw/minsw/manager/clusterport"
	"github.com/minsw/minsw/manager/controlapi"
	"github.com/minsw/minsw/manager/dispatcher"
	"github.com/minsw/minsw/manager/forward"
	"github.com/minsw/minsw/manager/identity"
	"github.com/minsw/minsw/manager/keymanager"
	"github.com/minsw/minsw/manager/logbroker"
	"github.com/minsw/minsw/manager/membershipapi"
	"github.com/minsw/minsw/manager/orchestrator"
	"github.com/minsw/minsw/manager/orchestrator/update"
	"github.com/minsw/minsw/manager/raftnode"
	"github.com/minsw/minsw/manager/rolemanager"
	"github.com/minsw/minsw/manager/scheduling"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// DefaultGossipKeyRotation is how often the leader makes a new gossip key
// (Swarm: 12 hours).
const DefaultGossipKeyRotation = keymanager.DefaultRotation

// Loop is one leader loop: it runs while this manager leads, until ctx
// ends (leadership lost, or the manager stops).
type Loop interface {
	Run(ctx context.Context) error
}

// Config configures a manager.
type Config struct {
	// NodeID is this node's ID (also its raft server ID).
	NodeID string
	// DataDir holds raft's state; "" keeps it in memory (tests).
	DataDir string
	// Listener is the cluster port (2377); the manager serves raft and
	// gRPC on it and closes it on Stop.
	Listener net.Listener
	// AdvertiseAddr is host:port other managers reach Listener at.
	AdvertiseAddr string
	// Bootstrap starts a new one-manager cluster when there is no state.
	Bootstrap bool
	// Raft timings; zero values take raftnode.DefaultConfig's. Its Cipher
	// (the node's data encryption key) seals raft's data on disk.
	Raft raftnode.Config
	// Dispatcher settings; zero values take dispatcher.DefaultConfig's.
	Dispatcher dispatcher.Config
	// Credentials are the node's certificate and trusted roots: the
	// cluster port serves mutual TLS 1.3 with them (gRPC and raft) and
	// dials other managers with them. Required.
	Credentials *ca.Credentials
	// Dial opens a gRPC connection to another manager (forwarding, joins);
	// nil dials with Credentials, requiring the manager server name.
	Dial func(ctx context.Context, addr string) (*grpc.ClientConn, error)
	// Clock is the CA's (certificate validity); nil: time.Now.
	Clock func() time.Time
	// EncryptedNetworks refuses an encrypted overlay (--opt encrypted)
	// this node cannot carry; nil refuses them all.
	EncryptedNetworks func(network string) error
	// GossipKeyRotation is how often the leader makes a new gossip key;
	// zero: DefaultGossipKeyRotation.
	GossipKeyRotation time.Duration
	// ClusterPort bounds unauthenticated connections to Listener; zero
	// fields take clusterport.DefaultConfig's.
	ClusterPort clusterport.Config
	Logger      *slog.Logger
}

// Manager is one running manager.
type Manager struct {
	cfg   Config
	log   *slog.Logger
	st    *store.Store
	raft  *raftnode.Node
	grpc  *grpc.Server
	mux   cmux.CMux
	guard *clusterport.Listener
	// local serves the same gRPC server in memory, for this node's own
	// socket: it never competes with the cluster port's load.
	local *bufconn.Listener
	// unary and unaryChain serve CallLocal: the Control and Membership
	// methods behind the same interceptors as the gRPC server's.
	unary      map[string]unaryMethod
	unaryChain grpc.UnaryServerInterceptor
	disp       *dispatcher.Dispatcher
	logs       *logbroker.Broker
	peers      *peerHealth
	ca         *caserver.Server
	keys       *keymanager.KeyManager
	auth       *auth.Authorizer
	fwd        *forward.Forwarder

	control    *controlapi.Server
	membership *membershipapi.Server

	mu    sync.Mutex
	alloc *allocator.Allocator // the current term's, while leading

	stop    context.CancelFunc
	done    chan struct{}
	stopped bool
}

// New starts a manager: raft joins or bootstraps, the cluster port serves.
func New(cfg Config) (*Manager, error) {
	if cfg.NodeID == "" || cfg.Listener == nil || cfg.Credentials == nil {
		return nil, errors.New("manager: NodeID, Listener and Credentials are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.AdvertiseAddr == "" {
		cfg.AdvertiseAddr = cfg.Listener.Addr().String()
	}
	if cfg.Dial == nil {
		creds := cfg.Credentials
		cfg.Dial = func(ctx context.Context, addr string) (*grpc.ClientConn, error) {
			return grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(creds.ClientTLS(ca.ManagerServerName))))
		}
	}
	m := &Manager{cfg: cfg, log: cfg.Logger.With("component", "manager"), done: make(chan struct{})}
	m.st = store.New(nil, nil)
	m.fwd = &forward.Forwarder{NodeID: cfg.NodeID, IsLeader: m.IsLeader, VerifyLeader: func() error { return m.raft.VerifyLeader() },
		WaitServing: m.waitServing, LeaderAddr: m.leaderAddr, Dial: cfg.Dial, Logger: cfg.Logger}
	m.auth = auth.New(auth.Config{NodeID: cfg.NodeID, Store: m.st, Raft: raftView{m}, Credentials: cfg.Credentials,
		NeedsLeader: forward.NeedsLeader, Conn: m.fwd.Conn, Logger: cfg.Logger})

	// The cluster port: each source may hold only so many connections
	// that have not proved a certificate; a connection says raft or TLS in
	// its first byte within the preamble timeout or is closed; TLS (and
	// gRPC's preface) must finish within the handshake timeout.
	cpc := cfg.ClusterPort
	cpc.Logger = cfg.Logger
	m.guard = clusterport.Guard(cfg.Listener, cpc)
	cpc = m.guard.Config()
	m.mux = cmux.New(m.guard)
	m.mux.SetReadTimeout(cpc.PreambleTimeout)
	raftL := m.mux.Match(clusterport.FirstByte(raftnode.RaftMagic))
	grpcL := m.mux.Match(clusterport.TLSRecord())

	adv, err := net.ResolveTCPAddr("tcp", cfg.AdvertiseAddr)
	if err != nil {
		return nil, fmt.Errorf("manager: advertise address %q: %w", cfg.AdvertiseAddr, err)
	}
	// Raft: only current members' manager certificates are accepted, and
	// a dialled member must present the node ID the configuration gives
	// its address.
	stream := raftnode.NewStreamLayer(raftnode.StripMagic(raftL), adv,
		cfg.Credentials.ServerTLS(ca.RequireClientCert, m.auth.RaftPeerAllowed), cfg.Credentials.ClientTLS(ca.ManagerServerName))
	stream.ExpectPeer(m.raftMemberAt)
	stream.SetHandshake(cpc.HandshakeTimeout, m.guard, clusterport.Authenticated)
	transport := raftnode.NewNetworkTransport(stream)

	rc := raftnode.DefaultConfig()
	if cfg.Raft.HeartbeatTimeout > 0 {
		rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = cfg.Raft.HeartbeatTimeout, cfg.Raft.ElectionTimeout, cfg.Raft.LeaderLeaseTimeout
	}
	if cfg.Raft.ApplyTimeout > 0 {
		rc.ApplyTimeout = cfg.Raft.ApplyTimeout
	}
	if cfg.Raft.SnapshotThreshold > 0 {
		rc.SnapshotThreshold, rc.TrailingLogs = cfg.Raft.SnapshotThreshold, cfg.Raft.TrailingLogs
	}
	if cfg.Raft.SnapshotInterval > 0 {
		rc.SnapshotInterval = cfg.Raft.SnapshotInterval
	}
	rc.Cipher = cfg.Raft.Cipher
	rc.ID, rc.Addr, rc.DataDir, rc.Transport, rc.Bootstrap, rc.Logger = cfg.NodeID, cfg.AdvertiseAddr, cfg.DataDir, transport, cfg.Bootstrap, cfg.Logger
	m.raft, err = raftnode.New(rc, m.st)
	if err != nil {
		transport.Close()
		return nil, err
	}
	// Unreachable while failures keep coming: raft retries a dead peer at
	// least every HeartbeatTimeout/2, so four timeouts of quiet mean it is back.
	m.peers = newPeerHealth(4 * rc.HeartbeatTimeout)
	m.raft.Observe(m.peers.observe)

	dc := cfg.Dispatcher
	if dc.HeartbeatPeriod == 0 {
		dc = dispatcher.DefaultConfig()
	}
	m.cfg.Dispatcher = dc
	dc.LeaderAddr = m.leaderAddr
	dc.Managers = m.managerAddrs
	dc.ManagerIDs = m.managerIDs
	dc.Logger = cfg.Logger
	lc := logbroker.DefaultConfig()
	lc.Logger = cfg.Logger
	if m.logs, err = logbroker.New(lc); err != nil {
		m.raft.Shutdown()
		return nil, err
	}
	dc.Logs = m.logs
	m.disp, err = dispatcher.New(m.st, dc)
	if err != nil {
		m.raft.Shutdown()
		return nil, err
	}

	m.ca = caserver.New(m.st, cfg.Clock, cfg.Logger)
	m.keys = keymanager.New(m.st, cfg.GossipKeyRotation, cfg.Clock, cfg.Logger)
	m.control = controlapi.New(controlapi.Config{Store: m.st, Allocator: m.allocator, Raft: m, EncryptedNetworks: cfg.EncryptedNetworks,
		CA: m.ca, Logs: m.logs, IsLeader: m.IsLeader})
	m.membership = membershipapi.New(membershipapi.Config{Store: m.st, Raft: m.raft, CA: m.ca,
		ManagerAddrs: m.managerAddrs, ManagerIDs: m.managerIDs, Logger: cfg.Logger})
	// The one edge of every call: errors become gRPC statuses (outermost,
	// so it sees auth's and forwarding's too), then auth, then forwarding
	// to the leader. Client certificates are optional at the handshake (a
	// joining node has none yet); the auth interceptors decide per call.
	m.grpc = grpc.NewServer(
		grpc.Creds(m.guard.ServerCredentials(credentials.NewTLS(cfg.Credentials.ServerTLS(ca.ClientCertIfGiven, m.auth.HandshakeAllowed, "h2")))),
		grpc.ConnectionTimeout(cpc.HandshakeTimeout),
		grpc.ChainUnaryInterceptor(errdefs.UnaryServerInterceptor, m.auth.Unary, m.fwd.Unary),
		grpc.ChainStreamInterceptor(errdefs.StreamServerInterceptor, m.auth.Stream, m.fwd.Stream))
	m.Register(m.grpc)
	m.unaryChain = chainUnary(errdefs.UnaryServerInterceptor, m.auth.Unary, m.fwd.Unary)
	m.unary = m.inMemoryMethods()
	api.RegisterDispatcherServer(m.grpc, m.disp)
	reflection.Register(m.grpc)

	// Every manager this node dials (forwarding, raft, its own agent) must
	// be one this manager knows as current.
	cfg.Credentials.SetManagerCheck(m.auth.KnownManager)

	ctx, cancel := context.WithCancel(context.Background())
	m.stop = cancel
	go func() { _ = m.grpc.Serve(grpcL) }()
	m.local = bufconn.Listen(1 << 20)
	go func() { _ = m.grpc.Serve(m.local) }()
	go func() { _ = m.mux.Serve() }()
	go func() {
		defer close(m.done)
		m.leadership(ctx)
	}()
	return m, nil
}

// Register adds the manager's client-facing services (Control, Membership)
// to s. Both go through the forward interceptors.
func (m *Manager) Register(s *grpc.Server) {
	api.RegisterControlServer(s, m.control)
	api.RegisterMembershipServer(s, m.membership)
}

// KnownManager says whether a manager certificate this node is shown when
// dialling belongs to a current manager (see auth.Authorizer.KnownManager).
func (m *Manager) KnownManager(id ca.Identity) error { return m.auth.KnownManager(id) }

// LocalConn is a connection to this manager that does not go through the
// cluster port: in memory, with the same mutual TLS (creds' certificate is
// the caller's identity). The node's local socket uses it, so a flood on
// 2377 never reaches `minsw service ls`.
func (m *Manager) LocalConn(creds *ca.Credentials) (*grpc.ClientConn, error) {
	return grpc.NewClient("passthrough:///local-manager",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return m.local.DialContext(ctx) }),
		grpc.WithTransportCredentials(credentials.NewTLS(creds.ClientTLS(ca.ManagerServerName))))
}

// ClusterPortRefused is how many connections the cluster port closed at
// once because their source held too many unauthenticated ones.
func (m *Manager) ClusterPortRefused() int64 { return m.guard.Refused() }

// allocator returns this term's allocator, nil when not leading.
func (m *Manager) allocator() *allocator.Allocator {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.alloc
}

// IsLeader reports whether this manager leads.
func (m *Manager) IsLeader() bool { return m.raft.IsLeader() }

func (m *Manager) leaderAddr() string {
	addr, _ := m.raft.Leader()
	return addr
}

// raftMemberAt is the node ID the raft configuration gives addr ("": none).
func (m *Manager) raftMemberAt(addr string) string {
	if m.raft == nil {
		return ""
	}
	ms, err := m.raft.Members()
	if err != nil {
		return ""
	}
	for _, x := range ms {
		if x.Addr == addr {
			return x.ID
		}
	}
	return ""
}

// managerAddrs lists the raft members' addresses.
func (m *Manager) managerAddrs() []string { return m.Managers() }

// managerIDs lists the raft members' node IDs.
func (m *Manager) managerIDs() []string {
	ms, err := m.raft.Members()
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(ms))
	for _, x := range ms {
		out = append(out, x.ID)
	}
	return out
}

// Managers lists the raft members' cluster addresses (nil when raft
// cannot tell).
func (m *Manager) Managers() []string {
	ms, err := m.raft.Members()
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(ms))
	for _, x := range ms {
		out = append(out, x.Addr)
	}
	return out
}

// WaitLeader waits until the cluster has a leader this manager knows of.
func (m *Manager) WaitLeader(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if addr, _ := m.raft.Leader(); addr != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return raftnode.ErrNoLeader
		case <-t.C:
		}
	}
}

// leadership starts the leader loops when this manager becomes leader and
// stops them when it stops leading.
func (m *Manager) leadership(ctx context.Context) {
	var cancel context.CancelFunc
	var group *errgroup.Group
	stopLoops := func() {
		if cancel != nil {
			began := time.Now()
			cancel()
			_ = group.Wait()
			cancel = nil
			m.disp.Stop()
			if took := time.Since(began); took > time.Second {
				m.log.Warn("leader loops were slow to stop", "took", took.Round(time.Millisecond))
			}
		}
	}
	defer stopLoops()
	leaderCh := m.raft.LeaderCh()
	check := time.NewTicker(500 * time.Millisecond)
	defer check.Stop()
	for {
		leading := m.raft.IsLeader()
		switch {
		case leading && cancel == nil:
			// Apply everything committed by earlier terms before deciding.
			rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
			err := m.raft.Ready(rctx)
			rcancel()
			if err != nil {
				m.log.Warn("catching up on becoming leader", "err", err)
				break
			}
			lctx, c := context.WithCancel(ctx)
			cancel = c
			group, lctx = errgroup.WithContext(lctx)
			for _, l := range m.leaderLoops() {
				group.Go(func() error { return l.Run(lctx) })
			}
			m.log.Info("became leader", "node", m.cfg.NodeID)
		case !leading && cancel != nil:
			m.log.Info("lost leadership", "node", m.cfg.NodeID)
			stopLoops()
			m.mu.Lock()
			m.alloc = nil
			m.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-leaderCh:
		case <-check.C:
		}
	}
}

// leaderLoops makes this term's leader loops; the allocator becomes the
// one the Control API allocates with.
func (m *Manager) leaderLoops() []Loop {
	alloc := allocator.New(m.st, m.cfg.Logger)
	m.mu.Lock()
	m.alloc = alloc
	m.mu.Unlock()
	return []Loop{
		alloc,
		orchestrator.New(m.st, orchestrator.Config{Logger: m.cfg.Logger}),
		update.New(m.st, update.Config{Logger: m.cfg.Logger, Rollback: m.control.RollbackService}),
		scheduling.New(m.st, m.cfg.Logger),
		m.disp,
		rolemanager.New(m.st, m.raft, m.cfg.NodeID, m.cfg.Logger),
		m.ca,
		m.keys,
	}
}

// raftView is auth's view of raft: the authorizer exists before the raft
// member (raft's transport needs its handshake check).
type raftView struct{ m *Manager }

func (r raftView) IsLeader() bool { return r.m.raft != nil && r.m.raft.IsLeader() }

func (r raftView) Members() ([]raftnode.Member, error) {
	if r.m.raft == nil {
		return nil, errors.New("raft is not running yet")
	}
	return r.m.raft.Members()
}

// LeaderID implements controlapi.Raft.
func (m *Manager) LeaderID() string {
	_, id := m.raft.Leader()
	return id
}

// Reachable implements controlapi.Raft: a member is reachable unless the
// leader's heartbeats to it are failing.
func (m *Manager) Reachable(id string) bool { return m.peers.reachable(id) }

// Stop shuts the manager down: loops, gRPC, raft, the listener.
func (m *Manager) Stop() {
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return
	}
	m.stopped = true
	m.mu.Unlock()
	m.stop()
	<-m.done
	m.grpc.Stop()
	_ = m.raft.Shutdown()
	m.mux.Close()
	_ = m.cfg.Listener.Close()
	m.fwd.Close()
}

// peerHealth follows raft's heartbeat observations on the leader.
type peerHealth struct {
	mu sync.Mutex
	// lastFailure is when the leader last failed to heartbeat each peer.
	lastFailure map[string]time.Time
	// quiet is how long without a failed heartbeat makes a peer reachable
	// again. Raft reports a failure at least every HeartbeatTimeout/2 while a
	// peer is down, but reports its recovery only once, on a channel that
	// drops when full: recovery must not hinge on that one event.
	quiet time.Duration
	now   func() time.Time
}

func newPeerHealth(quiet time.Duration) *peerHealth {
	return &peerHealth{lastFailure: map[string]time.Time{}, quiet: quiet, now: time.Now}
}

func (p *peerHealth) observe(o raft.Observation) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev := o.Data.(type) {
	case raft.FailedHeartbeatObservation:
		p.lastFailure[string(ev.PeerID)] = p.now()
	case raft.ResumedHeartbeatObservation:
		delete(p.lastFailure, string(ev.PeerID))
	}
}

func (p *peerHealth) reachable(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	at, failing := p.lastFailure[id]
	return !failing || p.now().Sub(at) > p.quiet
}

// NewNodeID is how the daemon names a new node.
func NewNodeID() string { return identity.NewID() }
