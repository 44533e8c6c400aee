// Package auth decides who may connect to the cluster port and make a call
// on it: at the TLS handshake (raft peers, gRPC clients) and per call, from
// the caller's verified certificate, the store and raft's configuration. It
// owns the caller's identity in a call's context; it does not forward calls
// nor map errors.
package auth

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/ca"
	"github.com/minsw/minsw/manager/raftnode"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// ForwardedIdentityHeader carries, on a call a follower forwards to the
// leader, the identity the follower verified from the caller's certificate.
// The leader believes it only from a peer that is itself a manager.
const ForwardedIdentityHeader = "minsw-forwarded-identity"

// policy is who may make a call.
type policy int

const (
	// anyone: no certificate needed (a joining node has none yet).
	anyone policy = iota
	// anyNode: a live node of this swarm, worker or manager.
	anyNode
	// managersOnly: a live node whose certificate says manager and whose
	// desired role in the store is still manager.
	managersOnly
)

func policyFor(method string) policy {
	switch method {
	case api.Membership_JoinCluster_FullMethodName, api.Membership_GetRootCA_FullMethodName:
		return anyone
	case api.Membership_RenewCertificate_FullMethodName:
		return anyNode
	}
	if strings.HasPrefix(method, "/minsw.v1.Dispatcher/") {
		return anyNode
	}
	return managersOnly
}

type identityKey struct{}

// Raft is what auth needs of the raft member.
type Raft interface {
	IsLeader() bool
	Members() ([]raftnode.Member, error)
}

// Config configures an Authorizer.
type Config struct {
	// NodeID is this manager's node ID.
	NodeID string
	Store  *store.Store
	Raft   Raft
	// Credentials are this manager's: its own identity names its swarm.
	Credentials *ca.Credentials
	// NeedsLeader reports whether a method is forwarded to the leader.
	NeedsLeader func(method string) bool
	// Conn returns a connection to another manager (askPeers).
	Conn   func(ctx context.Context, addr string) (*grpc.ClientConn, error)
	Logger *slog.Logger
}

// Authorizer makes the cluster port's admission decisions for one manager.
type Authorizer struct {
	cfg  Config
	st   *store.Store
	raft Raft
	conn func(ctx context.Context, addr string) (*grpc.ClientConn, error)
	log  *slog.Logger
	// peerAnswers caches askPeers' verdicts on raft peers this manager's
	// log does not know.
	peerAnswers answerCache
}

// New returns the Authorizer of one manager.
func New(cfg Config) *Authorizer {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &Authorizer{cfg: cfg, st: cfg.Store, raft: cfg.Raft, conn: cfg.Conn, log: cfg.Logger.With("component", "auth")}
	a.peerAnswers.ttl = 5 * time.Second
	return a
}

// CallerIdentity returns the identity authorize established for the call.
func CallerIdentity(ctx context.Context) (ca.Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(ca.Identity)
	return id, ok
}

// peerIdentity is the identity in the verified client certificate of the
// connection the call came on (none: the client presented no certificate).
func peerIdentity(ctx context.Context) (ca.Identity, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ca.Identity{}, false
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.PeerCertificates) == 0 {
		return ca.Identity{}, false
	}
	id, err := ca.IdentityOf(ti.State.PeerCertificates[0])
	if err != nil {
		return ca.Identity{}, false
	}
	return id, true
}

// authorize decides a call from the caller's certificate and the store:
// the node must be in this swarm (a removed node's certificate is refused
// at once), a worker may not call manager APIs, and a demoted manager loses
// them as soon as the store says so, before its certificate is reissued.
func (m *Authorizer) authorize(ctx context.Context, method string) (context.Context, error) {
	pol := policyFor(method)
	id, ok := peerIdentity(ctx)
	if md, found := metadata.FromIncomingContext(ctx); found && ok && id.IsManager() {
		// A follower forwarding a call vouches for its caller, once it is
		// itself checked.
		if v := md.Get(ForwardedIdentityHeader); len(v) == 1 {
			if err := m.checkNode(id, managersOnly, false); err != nil {
				return nil, err
			}
			fwd, valid := parseForwardedIdentity(v[0])
			if !valid {
				return nil, errdefs.PermissionDenied("malformed forwarded identity")
			}
			id, ok = fwd, fwd.NodeID != ""
		}
	}
	if pol == anyone {
		if ok {
			ctx = context.WithValue(ctx, identityKey{}, id)
		}
		return ctx, nil
	}
	if !ok {
		return nil, errdefs.Unauthenticated("%s needs a node certificate: this client presented none (join the swarm first)", method)
	}
	// A call this follower forwards is decided by the leader, whose store
	// is current (this one may not know a node that has just joined); here
	// only what is already certain is refused.
	forwarding := m.cfg.NeedsLeader(method) && !m.raft.IsLeader()
	if err := m.checkNode(id, pol, forwarding); err != nil {
		return nil, err
	}
	return context.WithValue(ctx, identityKey{}, id), nil
}

// checkNode refuses an identity the store no longer vouches for. While
// this manager's store has no cluster yet (it is joining and has not caught
// up), the certificate alone decides.
func (m *Authorizer) checkNode(id ca.Identity, pol policy, allowUnknown bool) error {
	var (
		c    *api.Cluster
		node *api.Node
	)
	m.st.View(func(tx store.ReadTx) {
		c = tx.Cluster()
		node = tx.Node(id.NodeID)
	})
	if pol == managersOnly && !id.IsManager() {
		return errdefs.PermissionDenied("permission denied: node %s is a worker; this call is for managers only", id.NodeID)
	}
	if c == nil {
		return nil
	}
	if id.ClusterID != c.GetId() {
		return errdefs.PermissionDenied("permission denied: certificate of node %s is for another swarm (%s)", id.NodeID, id.ClusterID)
	}
	if revoked(c, id.NodeID) {
		return errdefs.PermissionDenied("permission denied: node %s was removed from this swarm: its certificates are revoked", id.NodeID)
	}
	if node == nil {
		if allowUnknown {
			return nil
		}
		return errdefs.PermissionDenied("permission denied: node %s is not part of this swarm (was it removed?): its certificate is no longer accepted", id.NodeID)
	}
	if pol == managersOnly && node.GetSpec().GetDesiredRole() != api.NodeRole_NODE_ROLE_MANAGER {
		return errdefs.PermissionDenied("permission denied: node %s was demoted to worker; this call is for managers only", id.NodeID)
	}
	return nil
}

// revoked says whether the swarm removed the node: its certificates are
// refused everywhere (IDs are never reused, so the ID is the revocation).
func revoked(c *api.Cluster, nodeID string) bool {
	return slices.Contains(c.GetRemovedNodeIds(), nodeID)
}

// HandshakeAllowed is the cluster port's gRPC check at the TLS handshake,
// before any call: a certificate of another swarm or of a removed node is
// refused there (per-call authorization decides the rest).
func (m *Authorizer) HandshakeAllowed(id ca.Identity) error {
	var c *api.Cluster
	m.st.View(func(tx store.ReadTx) { c = tx.Cluster() })
	if c == nil {
		return nil
	}
	if id.ClusterID != c.GetId() {
		return fmt.Errorf("node %s belongs to another swarm", id.NodeID)
	}
	if revoked(c, id.NodeID) {
		return fmt.Errorf("node %s was removed from this swarm: its certificates are revoked", id.NodeID)
	}
	return nil
}

// RaftPeerAllowed is the raft listener's check of a connecting peer, at the
// TLS handshake: only a manager certificate (OU) of this swarm, of a node
// that was not removed and that the store does not know as demoted, whose
// node ID is a member of the current raft configuration. Raft itself would
// take AppendEntries with a newer term from anyone connected, so this is
// the only gate.
//
// Two cases admit a node missing from the local configuration: a manager
// that has just joined (its configuration is still empty: it accepts the
// managers of its swarm until the leader's first entries reach it), and a
// manager whose log is behind (it was down while another manager joined):
// it asks a member it knows, whose leader's store decides (askPeers).
func (m *Authorizer) RaftPeerAllowed(id ca.Identity) error {
	if !id.IsManager() {
		return fmt.Errorf("raft: node %s is not a manager", id.NodeID)
	}
	var (
		c    *api.Cluster
		node *api.Node
	)
	m.st.View(func(tx store.ReadTx) {
		c = tx.Cluster()
		node = tx.Node(id.NodeID)
	})
	own, err := m.cfg.Credentials.Identity()
	if err != nil || id.ClusterID != own.ClusterID {
		return fmt.Errorf("raft: node %s belongs to another swarm", id.NodeID)
	}
	if c != nil && revoked(c, id.NodeID) {
		return fmt.Errorf("raft: node %s was removed from this swarm: its certificates are revoked", id.NodeID)
	}
	if node != nil && node.GetSpec().GetDesiredRole() != api.NodeRole_NODE_ROLE_MANAGER {
		return fmt.Errorf("raft: node %s is no longer a manager", id.NodeID)
	}
	members, err := m.raft.Members()
	if err != nil {
		return fmt.Errorf("raft: cannot read the raft configuration: %w", err)
	}
	if len(members) == 0 {
		return nil // just joined: nothing to check against yet
	}
	for _, x := range members {
		if x.ID == id.NodeID {
			return nil
		}
	}
	if node != nil && node.GetRole() == api.NodeRole_NODE_ROLE_MANAGER {
		return nil // the store is ahead of the configuration here
	}
	return m.askPeers(id.NodeID, members)
}

// KnownManager is this manager's answer to "may I take node id's
// certificate as a manager's" when dialling one: a member of the raft
// configuration, or a manager in the store, and never a removed node.
func (m *Authorizer) KnownManager(id ca.Identity) error {
	var (
		c    *api.Cluster
		node *api.Node
	)
	m.st.View(func(tx store.ReadTx) {
		c = tx.Cluster()
		node = tx.Node(id.NodeID)
	})
	if c != nil && revoked(c, id.NodeID) {
		return fmt.Errorf("node %s was removed from this swarm", id.NodeID)
	}
	members, err := m.raft.Members()
	if err != nil || len(members) == 0 || c == nil {
		return nil // joining: the certificate's role alone decides
	}
	for _, x := range members {
		if x.ID == id.NodeID {
			return nil
		}
	}
	if node != nil && node.GetRole() == api.NodeRole_NODE_ROLE_MANAGER && node.GetSpec().GetDesiredRole() == api.NodeRole_NODE_ROLE_MANAGER {
		return nil
	}
	return fmt.Errorf("node %s is not a current manager of this swarm", id.NodeID)
}

// askPeers asks the managers of this manager's configuration, through the
// leader's store, whether nodeID is a current manager; answers are kept a
// few seconds so a peer reconnecting does not cost a call each time.
func (m *Authorizer) askPeers(nodeID string, members []raftnode.Member) error {
	if ok, found := m.peerAnswers.get(nodeID); found {
		if ok {
			return nil
		}
		return fmt.Errorf("raft: node %s is not a member of this swarm's raft configuration", nodeID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ok := false
	for _, x := range members {
		if x.ID == m.cfg.NodeID {
			continue
		}
		conn, err := m.conn(ctx, x.Addr)
		if err != nil {
			continue
		}
		resp, err := api.NewControlClient(conn).GetNode(ctx, &api.GetNodeRequest{Ref: nodeID})
		if status.Code(err) == codes.NotFound {
			break
		}
		if err != nil {
			continue
		}
		n := resp.GetNode()
		ok = n.GetId() == nodeID && n.GetRole() == api.NodeRole_NODE_ROLE_MANAGER && n.GetSpec().GetDesiredRole() == api.NodeRole_NODE_ROLE_MANAGER
		break
	}
	m.peerAnswers.put(nodeID, ok)
	if !ok {
		return fmt.Errorf("raft: node %s is not a member of this swarm's raft configuration", nodeID)
	}
	m.log.Info("raft peer unknown to this manager's log admitted: the leader's store knows it as a manager", "node", nodeID)
	return nil
}

// answerCache remembers askPeers' verdicts for a short while.
type answerCache struct {
	mu  sync.Mutex
	ttl time.Duration
	m   map[string]cachedAnswer
}

type cachedAnswer struct {
	ok bool
	at time.Time
}

func (a *answerCache) get(id string) (ok, found bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	v, found := a.m[id]
	if !found || time.Since(v.at) > a.ttl {
		return false, false
	}
	return v.ok, true
}

func (a *answerCache) put(id string, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil || len(a.m) > 1024 {
		a.m = map[string]cachedAnswer{}
	}
	a.m[id] = cachedAnswer{ok: ok, at: time.Now()}
}

// FormatForwardedIdentity is the ForwardedIdentityHeader value for id.
func FormatForwardedIdentity(id ca.Identity) string {
	return id.NodeID + "," + id.Role + "," + id.ClusterID
}

func parseForwardedIdentity(s string) (ca.Identity, bool) {
	if s == "" {
		return ca.Identity{}, true // the original caller had no certificate
	}
	p := strings.Split(s, ",")
	if len(p) != 3 || ca.ValidNodeID(p[0]) != nil || (p[1] != ca.ManagerRole && p[1] != ca.WorkerRole) || p[2] == "" {
		return ca.Identity{}, false
	}
	return ca.Identity{NodeID: p[0], Role: p[1], ClusterID: p[2]}, true
}

// nodeIDRequest is any request that names the calling node.
type nodeIDRequest interface{ GetNodeId() string }

// checkImpersonation refuses a dispatcher request naming another node than
// the caller's certificate: a worker speaks only for itself.
func checkImpersonation(id ca.Identity, method string, req any) error {
	if !strings.HasPrefix(method, "/minsw.v1.Dispatcher/") {
		return nil
	}
	r, ok := req.(nodeIDRequest)
	if !ok {
		return nil
	}
	if got := r.GetNodeId(); got != id.NodeID {
		return errdefs.PermissionDenied("permission denied: node %s may not act as node %s", id.NodeID, got)
	}
	return nil
}

// Unary is the first unary interceptor on the cluster port.
func (m *Authorizer) Unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := m.authorize(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	if id, ok := CallerIdentity(ctx); ok {
		if err := checkImpersonation(id, info.FullMethod, req); err != nil {
			return nil, err
		}
	}
	return handler(ctx, req)
}

// Stream is the stream interceptor on the cluster port: the same
// decision at the start, and the impersonation check on every message.
func (m *Authorizer) Stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := m.authorize(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	id, _ := CallerIdentity(ctx)
	return handler(srv, &authStream{ServerStream: ss, ctx: ctx, id: id, method: info.FullMethod})
}

type authStream struct {
	grpc.ServerStream
	ctx    context.Context
	id     ca.Identity
	method string
}

func (s *authStream) Context() context.Context { return s.ctx }

func (s *authStream) RecvMsg(msg any) error {
	if err := s.ServerStream.RecvMsg(msg); err != nil {
		return err
	}
	return checkImpersonation(s.id, s.method, msg)
}
