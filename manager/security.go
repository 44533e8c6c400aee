package manager

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/minsw/minsw/manager/ca"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// forwardedIdentityHeader carries, on a call a follower forwards to the
// leader, the identity the follower verified from the caller's certificate.
// The leader believes it only from a peer that is itself a manager.
const forwardedIdentityHeader = "minsw-forwarded-identity"

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

// callerIdentity returns the identity authorize established for the call.
func callerIdentity(ctx context.Context) (ca.Identity, bool) {
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
func (m *Manager) authorize(ctx context.Context, method string) (context.Context, error) {
	pol := policyFor(method)
	id, ok := peerIdentity(ctx)
	if md, found := metadata.FromIncomingContext(ctx); found && ok && id.IsManager() {
		// A follower forwarding a call vouches for its caller, once it is
		// itself checked.
		if v := md.Get(forwardedIdentityHeader); len(v) == 1 {
			if err := m.checkNode(id, managersOnly, false); err != nil {
				return nil, err
			}
			fwd, valid := parseForwardedIdentity(v[0])
			if !valid {
				return nil, status.Error(codes.PermissionDenied, "malformed forwarded identity")
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
		return nil, status.Errorf(codes.Unauthenticated, "%s needs a node certificate: this client presented none (join the swarm first)", method)
	}
	// A call this follower forwards is decided by the leader, whose store
	// is current (this one may not know a node that has just joined); here
	// only what is already certain is refused.
	forwarding := needsLeader(method) && !m.raft.IsLeader()
	if err := m.checkNode(id, pol, forwarding); err != nil {
		return nil, err
	}
	return context.WithValue(ctx, identityKey{}, id), nil
}

// checkNode refuses an identity the store no longer vouches for. While
// this manager's store has no cluster yet (it is joining and has not caught
// up), the certificate alone decides.
func (m *Manager) checkNode(id ca.Identity, pol policy, allowUnknown bool) error {
	var (
		c    *api.Cluster
		node *api.Node
	)
	m.st.View(func(tx store.ReadTx) {
		c = tx.Cluster()
		node = tx.Node(id.NodeID)
	})
	if pol == managersOnly && !id.IsManager() {
		return status.Errorf(codes.PermissionDenied, "permission denied: node %s is a worker; this call is for managers only", id.NodeID)
	}
	if c == nil {
		return nil
	}
	if id.ClusterID != c.GetId() {
		return status.Errorf(codes.PermissionDenied, "permission denied: certificate of node %s is for another swarm (%s)", id.NodeID, id.ClusterID)
	}
	if node == nil {
		if allowUnknown {
			return nil
		}
		return status.Errorf(codes.PermissionDenied, "permission denied: node %s is not part of this swarm (was it removed?): its certificate is no longer accepted", id.NodeID)
	}
	if pol == managersOnly && node.GetSpec().GetDesiredRole() != api.NodeRole_NODE_ROLE_MANAGER {
		return status.Errorf(codes.PermissionDenied, "permission denied: node %s was demoted to worker; this call is for managers only", id.NodeID)
	}
	return nil
}

// raftPeerAllowed is the raft listener's check of a connecting manager:
// a manager certificate of this swarm, and, if the store knows the node,
// one it still wants as a manager. A node the store does not know is let
// through: this manager's store may simply be behind (a manager that joined
// while it was down), and raft itself only listens to its configuration.
func (m *Manager) raftPeerAllowed(id ca.Identity) error {
	if !id.IsManager() {
		return status.Errorf(codes.PermissionDenied, "raft: node %s is not a manager", id.NodeID)
	}
	var (
		c    *api.Cluster
		node *api.Node
	)
	m.st.View(func(tx store.ReadTx) {
		c = tx.Cluster()
		node = tx.Node(id.NodeID)
	})
	if c == nil {
		return nil
	}
	if id.ClusterID != c.GetId() {
		return status.Errorf(codes.PermissionDenied, "raft: node %s belongs to another swarm", id.NodeID)
	}
	if node != nil && node.GetSpec().GetDesiredRole() != api.NodeRole_NODE_ROLE_MANAGER && node.GetRole() != api.NodeRole_NODE_ROLE_MANAGER {
		return status.Errorf(codes.PermissionDenied, "raft: node %s is no longer a manager", id.NodeID)
	}
	return nil
}

func formatForwardedIdentity(id ca.Identity) string {
	return id.NodeID + "," + id.Role + "," + id.ClusterID
}

func parseForwardedIdentity(s string) (ca.Identity, bool) {
	if s == "" {
		return ca.Identity{}, true // the original caller had no certificate
	}
	p := strings.Split(s, ",")
	if len(p) != 3 || p[0] == "" || (p[1] != ca.ManagerRole && p[1] != ca.WorkerRole) || p[2] == "" {
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
		return status.Errorf(codes.PermissionDenied, "permission denied: node %s may not act as node %s", id.NodeID, got)
	}
	return nil
}

// authUnary is the first unary interceptor on the cluster port.
func (m *Manager) authUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := m.authorize(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	if id, ok := callerIdentity(ctx); ok {
		if err := checkImpersonation(id, info.FullMethod, req); err != nil {
			return nil, err
		}
	}
	return handler(ctx, req)
}

// authStream is the stream interceptor on the cluster port: the same
// decision at the start, and the impersonation check on every message.
func (m *Manager) authStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := m.authorize(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	id, _ := callerIdentity(ctx)
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
