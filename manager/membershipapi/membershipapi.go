// Package membershipapi serves the Membership API on the leader: a node
// joins with a token (and gets its certificate from the CA server, its ID
// chosen by the swarm), a manager joins or leaves raft. Followers forward
// these calls to the leader.
package membershipapi

import (
	"context"
	"log/slog"
	"net"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/auth"
	"github.com/minsw/minsw/manager/ca"
	"github.com/minsw/minsw/manager/caserver"
	"github.com/minsw/minsw/manager/identity"
	"github.com/minsw/minsw/manager/jointoken"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Raft is what joins and leaves need of the raft member.
type Raft interface {
	AddVoter(id, addr string) error
	RemoveServer(id string) error
}

// Config configures a Server.
type Config struct {
	Store *store.Store
	Raft  Raft
	CA    *caserver.Server
	// ManagerAddrs and ManagerIDs list the raft members, told to a new node.
	ManagerAddrs func() []string
	ManagerIDs   func() []string
	Logger       *slog.Logger
}

// Server implements api.MembershipServer on the leader (followers forward
// to it).
type Server struct {
	api.UnimplementedMembershipServer
	st   *store.Store
	raft Raft
	ca   *caserver.Server
	cfg  Config
	log  *slog.Logger
}

// New returns the Membership server.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Server{st: cfg.Store, raft: cfg.Raft, ca: cfg.CA, cfg: cfg, log: cfg.Logger.With("component", "membership")}
}

// CABytes is what join tokens digest: the DER of the root CA certificate,
// which a joining node checks the CA it is offered against.
func CABytes(c *api.Cluster) []byte { return c.GetRootCaCert() }

// GetRootCA serves the root to anyone (the CA server answers).
func (s *Server) GetRootCA(ctx context.Context, r *api.GetRootCARequest) (*api.GetRootCAResponse, error) {
	return s.ca.GetRootCA(ctx, r)
}

// RenewCertificate issues the calling node a new certificate (the CA
// server answers).
func (s *Server) RenewCertificate(ctx context.Context, r *api.RenewCertificateRequest) (*api.RenewCertificateResponse, error) {
	return s.ca.RenewCertificate(ctx, r)
}

// JoinCluster admits a node holding a valid token, records it, and issues
// its certificate for the request's CSR, with the token's role.
func (s *Server) JoinCluster(ctx context.Context, r *api.JoinClusterRequest) (*api.JoinClusterResponse, error) {
	tok, err := jointoken.Parse(r.GetToken())
	if err != nil {
		return nil, errdefs.InvalidArgument("%v", err)
	}
	host, _, err := net.SplitHostPort(r.GetAddr())
	if err != nil {
		return nil, errdefs.InvalidArgument("invalid node address %q: want host:port", r.GetAddr())
	}
	if r.GetNodeId() != "" {
		return nil, errdefs.InvalidArgument("a joining node may not choose its node ID (asked for %q): the swarm's CA chooses it", r.GetNodeId())
	}
	if _, ok := api.NodeAvailability_name[int32(r.GetAvailability())]; !ok {
		return nil, errdefs.InvalidArgument("invalid availability %d: want active, pause or drain", r.GetAvailability())
	}
	hostname := r.GetDescription().GetHostname()
	var resp *api.JoinClusterResponse
	err = s.st.Update(ctx, func(tx *store.Tx) error {
		c := tx.Cluster()
		if c == nil {
			return errdefs.FailedPrecondition("this node is not part of a swarm")
		}
		if !jointoken.Equal(tok.Digest, jointoken.Digest(CABytes(c))) {
			return errdefs.InvalidArgument("invalid join token: it was made for another swarm (its CA digest does not match)")
		}
		role := api.NodeRole_NODE_ROLE_WORKER
		// The token as parsed (spaces around it trimmed), not as typed.
		switch canon := tok.String(); {
		case jointoken.Equal(canon, c.GetJoinTokens().GetWorker()):
		case jointoken.Equal(canon, c.GetJoinTokens().GetManager()):
			role = api.NodeRole_NODE_ROLE_MANAGER
		default:
			return errdefs.InvalidArgument("invalid join token: it is not this swarm's current worker or manager token (was it rotated?)")
		}
		if hostname != "" {
			for _, other := range tx.Nodes() {
				if strings.EqualFold(other.GetDescription().GetHostname(), hostname) {
					return errdefs.AlreadyExists("hostname %s is already taken by node %s; use --node-name (or node rm %s if that node is gone)", hostname, other.GetId(), identity.Short(other.GetId()))
				}
			}
		}
		id := newNodeID(tx, c)
		n := &api.Node{
			Id:          id,
			Meta:        &api.Meta{},
			Spec:        &api.NodeSpec{DesiredRole: role, Availability: r.GetAvailability()},
			Description: r.GetDescription(),
			Status:      &api.NodeStatus{State: api.NodeState_NODE_STATE_UNKNOWN, Addr: host},
			Role:        api.NodeRole_NODE_ROLE_WORKER,
		}
		if role == api.NodeRole_NODE_ROLE_MANAGER {
			n.ManagerStatus = &api.ManagerStatus{Addr: r.GetAddr()}
		}
		chain, err := s.ca.Issue(c, n, r.GetCsr(), role)
		if err != nil {
			return err
		}
		resp = &api.JoinClusterResponse{NodeId: id, ClusterId: c.GetId(), Role: role, RootCaCert: caserver.TrustBundle(c), Certificate: chain}
		return tx.Create(n)
	})
	if err != nil {
		return nil, err
	}
	resp.ManagerAddrs = s.cfg.ManagerAddrs()
	resp.ManagerIds = s.cfg.ManagerIDs()
	s.log.Info("node joined", "node", resp.NodeId, "hostname", hostname, "role", resp.Role)
	return resp, nil
}

// newNodeID is the CA's choice of a joining node's ID: random (as
// swarmkit's), and never one the swarm holds or has removed, so a removed
// node's identity never comes back.
func newNodeID(tx *store.Tx, c *api.Cluster) string {
	for {
		id := identity.NewID()
		if tx.Node(id) == nil && !slices.Contains(c.GetRemovedNodeIds(), id) {
			return id
		}
	}
}

// JoinRaft makes a node whose desired role is manager a raft voter.
func (s *Server) JoinRaft(ctx context.Context, r *api.JoinRaftRequest) (*api.JoinRaftResponse, error) {
	if id, ok := auth.CallerIdentity(ctx); ok && id.NodeID != r.GetNodeId() {
		return nil, errdefs.PermissionDenied("permission denied: node %s may not add node %s to raft", id.NodeID, r.GetNodeId())
	}
	if err := ca.ValidNodeID(r.GetNodeId()); err != nil {
		return nil, errdefs.InvalidArgument("%v", err)
	}
	var node *api.Node
	s.st.View(func(tx store.ReadTx) { node = tx.Node(r.GetNodeId()) })
	if node == nil {
		return nil, errdefs.NotFound("node %s not found", r.GetNodeId())
	}
	if node.GetSpec().GetDesiredRole() != api.NodeRole_NODE_ROLE_MANAGER {
		return nil, errdefs.FailedPrecondition("node %s is not meant to be a manager", r.GetNodeId())
	}
	if _, _, err := net.SplitHostPort(r.GetAddr()); err != nil {
		return nil, errdefs.InvalidArgument("invalid manager address %q", r.GetAddr())
	}
	if err := s.raft.AddVoter(r.GetNodeId(), r.GetAddr()); err != nil {
		return nil, err
	}
	// The role reconciler may write the same node meanwhile: retry a lost
	// race rather than fail a join whose raft half is done.
	var err error
	for range 5 {
		err = s.st.Update(ctx, func(tx *store.Tx) error {
			n := tx.Node(r.GetNodeId())
			if n == nil {
				return nil
			}
			nn := proto.Clone(n).(*api.Node)
			nn.Role = api.NodeRole_NODE_ROLE_MANAGER
			nn.ManagerStatus = &api.ManagerStatus{Addr: r.GetAddr()}
			return tx.Update(nn)
		})
		if !errdefs.Is(err, errdefs.KindConflict) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	return &api.JoinRaftResponse{}, nil
}

// LeaveRaft removes a manager from raft (swarm leave --force on a manager).
func (s *Server) LeaveRaft(ctx context.Context, r *api.LeaveRaftRequest) (*api.LeaveRaftResponse, error) {
	if err := ca.ValidNodeID(r.GetNodeId()); err != nil {
		return nil, errdefs.InvalidArgument("%v", err)
	}
	if id, ok := auth.CallerIdentity(ctx); ok && id.NodeID != r.GetNodeId() {
		return nil, errdefs.PermissionDenied("permission denied: node %s may not remove node %s from raft (demote it instead)", id.NodeID, r.GetNodeId())
	}
	if err := s.raft.RemoveServer(r.GetNodeId()); err != nil {
		return nil, err
	}
	return &api.LeaveRaftResponse{}, nil
}
