// Package node is one minsw daemon: it serves the local API on a unix
// socket in the exec root, keeps the node's swarm membership on disk under
// the data root, and runs a manager (when the node is one) and the worker
// agent. It creates, joins and leaves swarms; what runs where is decided by
// the manager, and containers are run by the agent's executor.
package node

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/internal/registryresolve"
	"github.com/minsw/minsw/manager"
	"github.com/minsw/minsw/manager/ca"
	"github.com/minsw/minsw/manager/dispatcher"
	"github.com/minsw/minsw/manager/encryption"
	"github.com/minsw/minsw/manager/raftnode"
	"github.com/minsw/minsw/netdriver/ipsec"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/agent"
	"github.com/minsw/minsw/worker/executor"
	"github.com/minsw/minsw/worker/netagent"
	"github.com/minsw/minsw/worker/volume"
)

// Version is the engine version nodes report.
const Version = "0.1.0"

// DefaultListenAddr is the cluster port Swarm uses.
const DefaultListenAddr = "0.0.0.0:2377"

// Config configures a node. Paths are per node so several daemons can share
// one machine (the lab).
type Config struct {
	// Hostname overrides the machine's (--node-name).
	Hostname string
	// EngineLabels (daemon --label) and GenericResources (daemon
	// --node-generic-resource) are reported for placement.
	EngineLabels     map[string]string
	GenericResources map[string]int64
	DataRoot         string
	ExecRoot         string
	// AdvertiseAddr and ListenAddr are the defaults for init/join.
	AdvertiseAddr string
	ListenAddr    string
	Executor      executor.Executor
	// Network attaches tasks to overlays; nil means no networking.
	Network agent.Network
	// Networking, when set, is the template of the task networking made
	// at each swarm init/join (overlays, lb, DNS, gossip); it replaces
	// Network. Node ID, exec root and VTEP are filled in from the swarm.
	Networking *netagent.Config
	// HeartbeatPeriod overrides the dispatcher's (tests); 0 keeps 5 s.
	HeartbeatPeriod time.Duration
	// Raft timing overrides (tests); zero keeps the defaults.
	Raft raftnode.Config
	// CertCheckInterval is how often the node checks its certificate and
	// roots with a manager; zero: DefaultCertCheckInterval.
	CertCheckInterval time.Duration
	// DockerSocket is where the Docker Engine API listens; "" switches it
	// off (dockerapi.go).
	DockerSocket string
	// RegistryMirror and InsecureRegistries are where the Engine API looks
	// images up (GET /distribution), as the executor pulls them.
	RegistryMirror     string
	InsecureRegistries []string
	// DockerTCP, when set, also serves it on this TCP address, with
	// DockerTLS (client certificates required).
	DockerTCP string
	DockerTLS *tls.Config
	Logger    *slog.Logger
}

// state is what the node keeps on disk across restarts.
type state struct {
	NodeID        string   `json:"node_id"`
	ClusterID     string   `json:"cluster_id"`
	Manager       bool     `json:"manager"`
	ListenAddr    string   `json:"listen_addr"`
	AdvertiseAddr string   `json:"advertise_addr"` // host:port of the cluster listener
	Managers      []string `json:"managers"`
	// ManagerIDs are the managers' node IDs as the join answer named them
	// (the agent's session keeps them current afterwards).
	ManagerIDs []string `json:"manager_ids,omitempty"`
}

// clusterManager is what the node needs of the manager it runs: its
// lifecycle, an in-memory connection to it, swarm init's first objects,
// autolock, and the few reads Info, Leave, gossip and the dial check make.
// Everything else goes through the gRPC APIs.
type clusterManager interface {
	Stop()
	Done() <-chan struct{}
	LocalConn(creds *ca.Credentials) (*grpc.ClientConn, error)
	// CallLocal makes a unary Control or Membership call in memory,
	// through the manager's edge (the local socket's fast path).
	CallLocal(ctx context.Context, creds *ca.Credentials, fullMethod string, req any) (any, error)
	WaitLeader(ctx context.Context) error
	InitCluster(ctx context.Context, desc *api.NodeDescription, nodeAddr string, root *ca.RootCA, availability api.NodeAvailability) (*api.Cluster, error)
	SetAutolock(ctx context.Context, on bool) (unlockKey string, err error)
	FollowUnlockKey(fn func(unlockKey string))
	KnownManager(id ca.Identity) error
	// Managers lists the raft members' cluster addresses.
	Managers() []string
	// NodeAddrs lists the addresses of the nodes in the store.
	NodeAddrs() []string
	NodeCount() int
}

var _ clusterManager = (*manager.Manager)(nil)

// Node is a running daemon.
type Node struct {
	cfg Config
	log *slog.Logger
	// ctrEvents are this node's container events (containerevents.go).
	ctrEvents *containerEvents

	local *grpc.Server

	mu         sync.Mutex
	st         *state
	mgr        clusterManager
	agent      *agent.Agent
	agentStop  context.CancelFunc
	agentDone  chan struct{}
	net        *netagent.Agent // task networking, nil without
	netDone    chan struct{}
	mgrConn    *grpc.ClientConn
	creds      *ca.Credentials // the node's TLS identity, nil outside a swarm
	locked     bool            // autolock: a restarted manager waits for swarm unlock
	ipsec      *ipsec.Checker  // whether this kernel can carry encrypted overlays
	rest       atRest          // the raft data key and how it is kept (autolock.go)
	volumes    *volume.Store   // the node's local volumes (volumes.go)
	ctx        context.Context
	transition sync.Mutex // one init/join/leave/promote at a time
}

// New checks cfg and prepares a node; Run starts it.
func New(cfg Config) (*Node, error) {
	if cfg.DataRoot == "" || cfg.ExecRoot == "" {
		return nil, errors.New("node: data root and exec root are required")
	}
	if cfg.Executor == nil {
		return nil, errors.New("node: no executor")
	}
	// Every part of the node drives containers through this one, so each
	// change is a container event (containerevents.go).
	ctrEvents := newContainerEvents()
	cfg.Executor = &eventingExecutor{Executor: cfg.Executor, events: ctrEvents}
	if cfg.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, err
		}
		cfg.Hostname = h
	}
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = DefaultListenAddr
	}
	if cfg.Network == nil {
		cfg.Network = agent.NoopNetwork{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CertCheckInterval <= 0 {
		cfg.CertCheckInterval = DefaultCertCheckInterval
	}
	return &Node{cfg: cfg, log: cfg.Logger.With("node", cfg.Hostname), ipsec: ipsec.NewChecker(), ctrEvents: ctrEvents}, nil
}

// SocketPath is where the local API listens.
func (n *Node) SocketPath() string { return filepath.Join(n.cfg.ExecRoot, "minsw.sock") }

func (n *Node) statePath() string { return filepath.Join(n.cfg.DataRoot, "swarm", "state.json") }
func (n *Node) raftDir() string   { return filepath.Join(n.cfg.DataRoot, "swarm") }

// Run serves until ctx ends, resuming the swarm membership found on disk.
func (n *Node) Run(ctx context.Context) error {
	// Private at every start, not only when new: a root made 0755 by an
	// older version or by hand would show certificates, raft and the
	// sockets' directory to every local user.
	for _, d := range []string{n.cfg.DataRoot, n.cfg.ExecRoot} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return fmt.Errorf("node: making %s private: %w", d, err)
		}
	}
	sock := n.SocketPath()
	_ = os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("node: listening on %s: %w", sock, err)
	}
	if err := os.Chmod(sock, 0o660); err != nil {
		l.Close()
		return err
	}
	if n.volumes, err = volume.New(filepath.Join(n.cfg.DataRoot, "volumes"), nil); err != nil {
		l.Close()
		return err
	}
	images, err := registryresolve.New(registryresolve.Config{Mirror: n.cfg.RegistryMirror, Insecure: n.cfg.InsecureRegistries})
	if err != nil {
		l.Close()
		return fmt.Errorf("node: %w", err)
	}
	n.ctx = ctx
	// Errors become gRPC statuses here, once, for the node's own APIs
	// (Swarm, Containers, Networks); relayed manager answers pass as they are.
	n.local = grpc.NewServer(grpc.ChainUnaryInterceptor(errdefs.UnaryServerInterceptor, n.toManager),
		grpc.ChainStreamInterceptor(errdefs.StreamServerInterceptor, n.toManagerStream))
	api.RegisterSwarmServer(n.local, &swarmAPI{n: n})
	api.RegisterControlServer(n.local, api.UnimplementedControlServer{})
	api.RegisterMembershipServer(n.local, api.UnimplementedMembershipServer{})
	api.RegisterContainersServer(n.local, newContainersAPI(n))
	api.RegisterNetworksServer(n.local, &networksAPI{n: n})
	api.RegisterVolumesServer(n.local, &volumesAPI{n: n})
	api.RegisterImagesServer(n.local, &imagesAPI{r: images})
	reflection.Register(n.local)

	if st, err := n.loadState(); err != nil {
		n.log.Warn("ignoring unreadable swarm state", "err", err)
	} else if st != nil {
		if err := n.resume(ctx, st); err != nil {
			if refuseToStart(err) {
				n.shutdown()
				l.Close()
				_ = os.Remove(sock)
				return err
			}
			n.log.Error("resuming swarm membership", "err", err)
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- n.local.Serve(l) }()
	ectx, stopEngine := context.WithCancel(ctx)
	engineDone, err := n.serveEngineAPI(ectx)
	if err != nil {
		stopEngine()
		n.local.Stop()
		n.shutdown()
		return err
	}
	n.log.Info("daemon ready", "socket", sock)
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil {
			n.log.Error("local API stopped", "err", err)
		}
	}
	stopEngine()
	<-engineDone
	n.local.GracefulStop()
	n.shutdown()
	_ = os.Remove(sock)
	if n.cfg.DockerSocket != "" {
		_ = os.Remove(n.cfg.DockerSocket)
	}
	return nil
}

// shutdown stops the agent and manager, leaving state on disk (a restart
// resumes, and containers stay for adoption).
func (n *Node) shutdown() {
	n.stopAgent()
	n.mu.Lock()
	m := n.mgr
	n.mgr = nil
	if n.mgrConn != nil {
		n.mgrConn.Close()
		n.mgrConn = nil
	}
	n.mu.Unlock()
	if m != nil {
		m.Stop()
	}
}

func (n *Node) loadState() (*state, error) {
	b, err := os.ReadFile(n.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

func (n *Node) saveState(st *state) error {
	if err := os.MkdirAll(filepath.Dir(n.statePath()), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := n.statePath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, n.statePath())
}

func (n *Node) resume(ctx context.Context, st *state) error {
	if st.Manager {
		if err := n.openAtRest(nil); errors.Is(err, encryption.ErrLocked) {
			n.mu.Lock()
			n.st, n.locked = st, true
			n.mu.Unlock()
			n.log.Warn("swarm is locked (autolock): waiting for minsw swarm unlock")
			return nil
		} else if err != nil {
			return err
		}
	}
	return n.start(st)
}

// start brings up what the node ran before its restart, once its raft data
// key is open (at once, or at swarm unlock).
func (n *Node) start(st *state) error {
	creds, err := ca.LoadSealed(n.certDir(), nil, n.keyOpener())
	if err != nil {
		return fmt.Errorf("node: loading the node certificate from %s: %w", n.certDir(), err)
	}
	n.mu.Lock()
	n.st, n.creds = st, creds
	n.mu.Unlock()
	if st.Manager {
		if err := n.checkRaftLog(); err != nil {
			return err
		}
		if err := n.startManager(st, false); err != nil {
			return err
		}
	}
	return n.startAgent(st)
}

// startManager opens the cluster port and starts the manager.
func (n *Node) startManager(st *state, bootstrap bool) error {
	l, err := net.Listen("tcp", st.ListenAddr)
	if err != nil {
		return errdefs.FailedPrecondition("cannot listen on %s for the cluster port: %v", st.ListenAddr, err)
	}
	rc := n.cfg.Raft
	if rc.Cipher, err = n.raftCipher(); err != nil {
		l.Close()
		return err
	}
	dc := dispatcher.DefaultConfig()
	if n.cfg.HeartbeatPeriod > 0 {
		dc.HeartbeatPeriod = n.cfg.HeartbeatPeriod
	}
	m, err := manager.New(manager.Config{
		NodeID:        st.NodeID,
		DataDir:       n.raftDir(),
		Listener:      l,
		AdvertiseAddr: st.AdvertiseAddr,
		Bootstrap:     bootstrap,
		Raft:          rc,
		Dispatcher:    dc,
		Credentials:   n.credentials(),
		// The manager refuses encrypted overlays its own kernel cannot
		// carry (each node checks again before attaching a task).
		EncryptedNetworks: n.ipsec.Check,
		Logger:            n.cfg.Logger,
	})
	if err != nil {
		l.Close()
		return err
	}
	// manager.New made the credentials trust its own view of who the
	// managers are; the node's check asks it while it runs.
	n.credentials().SetManagerCheck(n.knownManager)
	// The local socket reaches this manager in memory, not through the
	// cluster port, whatever load that port is under.
	conn, err := m.LocalConn(n.credentials())
	if err != nil {
		m.Stop()
		return err
	}
	n.mu.Lock()
	n.mgr, n.mgrConn = m, conn
	n.mu.Unlock()
	go n.followUnlockKey(m)
	return nil
}

func (n *Node) stopManager() {
	n.mu.Lock()
	m, c := n.mgr, n.mgrConn
	n.mgr, n.mgrConn = nil, nil
	n.mu.Unlock()
	if c != nil {
		c.Close()
	}
	if m != nil {
		m.Stop()
	}
}

// knownManager decides whether a manager certificate this node is shown
// when dialling belongs to a current manager: this node's manager knows
// (raft configuration and store); on a worker, the managers its session
// last named, else those the join answer named. Knowing none, the
// certificate's manager role alone decides.
func (n *Node) knownManager(id ca.Identity) error {
	n.mu.Lock()
	m, a, st := n.mgr, n.agent, n.st
	n.mu.Unlock()
	if m != nil {
		return m.KnownManager(id)
	}
	var ids []string
	if a != nil {
		ids = a.ManagerIDs()
	}
	if len(ids) == 0 && st != nil {
		ids = st.ManagerIDs
	}
	if len(ids) == 0 || slices.Contains(ids, id.NodeID) {
		return nil
	}
	return fmt.Errorf("node %s is not one of the swarm's current managers", id.NodeID)
}

func (n *Node) description() *api.NodeDescription {
	return n.describe()
}

// startAgent starts the worker agent (every node runs tasks, managers too).
func (n *Node) startAgent(st *state) error {
	host, _, _ := net.SplitHostPort(st.AdvertiseAddr)
	acfg := agent.DefaultConfig()
	acfg.NodeID = st.NodeID
	acfg.Managers = st.Managers
	acfg.Dial = n.agentDial
	acfg.Executor = n.cfg.Executor
	acfg.Network = n.cfg.Network
	acfg.Volumes = n.volumes
	acfg.Description = n.description()
	acfg.Addr = host
	acfg.Logger = n.cfg.Logger
	if c := n.credentials(); c != nil {
		c.SetManagerCheck(n.knownManager)
	}
	na, err := n.newNetworking(st)
	if err != nil {
		return err
	}
	if na != nil {
		acfg.Network = na
	}
	acfg.Network = netagent.RefuseEncrypted(acfg.Network, n.ipsec.Check)
	a, err := agent.New(acfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(n.ctx)
	done := make(chan struct{})
	n.mu.Lock()
	n.agent, n.agentStop, n.agentDone = a, cancel, done
	n.mu.Unlock()
	go func() {
		defer close(done)
		if err := a.Run(ctx); err != nil && ctx.Err() == nil {
			n.log.Error("agent stopped", "err", err)
		}
	}()
	n.startNetworking(ctx, na, a)
	go n.followRole(ctx, a)
	go n.renewLoop(ctx, a)
	return nil
}

func (n *Node) stopAgent() {
	n.mu.Lock()
	stop, done := n.agentStop, n.agentDone
	n.agent, n.agentStop, n.agentDone = nil, nil, nil
	n.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	n.waitNetworking()
}

// followRole starts a manager when the leader promotes this node and stops
// it when the node is demoted, as its session reports the node's role.
func (n *Node) followRole(ctx context.Context, a *agent.Agent) {
	for {
		ch := a.Changed()
		if node := a.Node(); node != nil {
			n.applyRole(ctx, a, node)
		}
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
	}
}

func (n *Node) applyRole(ctx context.Context, a *agent.Agent, node *api.Node) {
	n.transition.Lock()
	defer n.transition.Unlock()
	n.mu.Lock()
	st, running := n.st, n.mgr != nil
	n.mu.Unlock()
	if st == nil {
		return
	}
	switch {
	case node.GetRole() == api.NodeRole_NODE_ROLE_MANAGER && !running:
		leader := a.Leader()
		if leader == "" {
			return
		}
		ns := *st
		ns.Manager = true
		if ns.ListenAddr == "" {
			ns.ListenAddr = n.cfg.ListenAddr
		}
		// The manager serves and joins raft with a manager certificate.
		if id, _ := n.credentials().Identity(); !id.IsManager() {
			rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			err := n.renewNow(rctx, leader)
			cancel()
			if err != nil {
				n.log.Error("promotion: getting a manager certificate", "err", err)
				return
			}
		}
		if err := n.startManager(&ns, false); err != nil {
			n.log.Error("promotion: starting manager", "err", err)
			return
		}
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		conn, err := n.dialManager(n.credentials(), leader)
		if err == nil {
			_, err = api.NewMembershipClient(conn).JoinRaft(rctx, &api.JoinRaftRequest{NodeId: st.NodeID, Addr: ns.AdvertiseAddr})
			conn.Close()
		}
		if err != nil {
			n.log.Error("promotion: joining raft", "err", err)
			n.stopManager()
			return
		}
		n.mu.Lock()
		n.st = &ns
		n.mu.Unlock()
		_ = n.saveState(&ns)
		n.log.Info("promoted to manager")
	case node.GetRole() == api.NodeRole_NODE_ROLE_WORKER && running && node.GetSpec().GetDesiredRole() == api.NodeRole_NODE_ROLE_WORKER:
		n.stopManager()
		n.dropAtRest()
		_ = os.RemoveAll(filepath.Join(n.raftDir(), "raft"))
		ns := *st
		ns.Manager = false
		n.mu.Lock()
		n.st = &ns
		n.mu.Unlock()
		_ = n.saveState(&ns)
		n.log.Info("demoted to worker")
	}
}
