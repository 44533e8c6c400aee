package manager

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/ca"
	"github.com/minsw/minsw/manager/identity"
	"github.com/minsw/minsw/manager/jointoken"
	"github.com/minsw/minsw/manager/orchestrator"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// membership implements api.MembershipServer on the leader (followers
// forward to it).
type membership struct {
	api.UnimplementedMembershipServer
	m *Manager
}

// caBytes is what join tokens digest: the DER of the root CA certificate,
// which a joining node checks the CA it is offered against.
func caBytes(c *api.Cluster) []byte { return c.GetRootCaCert() }

// JoinCluster admits a node holding a valid token, records it, and issues
// its certificate for the request's CSR, with the token's role.
func (s *membership) JoinCluster(ctx context.Context, r *api.JoinClusterRequest) (*api.JoinClusterResponse, error) {
	tok, err := jointoken.Parse(r.GetToken())
	if err != nil {
		return nil, errdefs.ToGRPC(errdefs.InvalidArgument("%v", err))
	}
	host, _, err := net.SplitHostPort(r.GetAddr())
	if err != nil {
		return nil, errdefs.ToGRPC(errdefs.InvalidArgument("invalid node address %q: want host:port", r.GetAddr()))
	}
	if r.GetNodeId() != "" {
		return nil, errdefs.ToGRPC(errdefs.InvalidArgument("a joining node may not choose its node ID (asked for %q): the swarm's CA chooses it", r.GetNodeId()))
	}
	hostname := r.GetDescription().GetHostname()
	var resp *api.JoinClusterResponse
	err = s.m.st.Update(ctx, func(tx *store.Tx) error {
		c := tx.Cluster()
		if c == nil {
			return errdefs.FailedPrecondition("this node is not part of a swarm")
		}
		if !jointoken.Equal(tok.Digest, jointoken.Digest(caBytes(c))) {
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
			Spec:        &api.NodeSpec{DesiredRole: role},
			Description: r.GetDescription(),
			Status:      &api.NodeStatus{State: api.NodeState_NODE_STATE_UNKNOWN, Addr: host},
			Role:        api.NodeRole_NODE_ROLE_WORKER,
		}
		if role == api.NodeRole_NODE_ROLE_MANAGER {
			n.ManagerStatus = &api.ManagerStatus{Addr: r.GetAddr()}
		}
		chain, err := s.m.issue(c, n, r.GetCsr(), role)
		if err != nil {
			return err
		}
		resp = &api.JoinClusterResponse{NodeId: id, ClusterId: c.GetId(), Role: role, RootCaCert: trustBundle(c), Certificate: chain}
		return tx.Create(n)
	})
	if err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	resp.ManagerAddrs = s.m.managerAddrs()
	resp.ManagerIds = s.m.managerIDs()
	s.m.log.Info("node joined", "node", resp.NodeId, "hostname", hostname, "role", resp.Role)
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
func (s *membership) JoinRaft(ctx context.Context, r *api.JoinRaftRequest) (*api.JoinRaftResponse, error) {
	if id, ok := callerIdentity(ctx); ok && id.NodeID != r.GetNodeId() {
		return nil, status.Errorf(codes.PermissionDenied, "permission denied: node %s may not add node %s to raft", id.NodeID, r.GetNodeId())
	}
	if err := ca.ValidNodeID(r.GetNodeId()); err != nil {
		return nil, errdefs.ToGRPC(errdefs.InvalidArgument("%v", err))
	}
	var node *api.Node
	s.m.st.View(func(tx store.ReadTx) { node = tx.Node(r.GetNodeId()) })
	if node == nil {
		return nil, errdefs.ToGRPC(errdefs.NotFound("node %s not found", r.GetNodeId()))
	}
	if node.GetSpec().GetDesiredRole() != api.NodeRole_NODE_ROLE_MANAGER {
		return nil, errdefs.ToGRPC(errdefs.FailedPrecondition("node %s is not meant to be a manager", r.GetNodeId()))
	}
	if _, _, err := net.SplitHostPort(r.GetAddr()); err != nil {
		return nil, errdefs.ToGRPC(errdefs.InvalidArgument("invalid manager address %q", r.GetAddr()))
	}
	if err := s.m.raft.AddVoter(r.GetNodeId(), r.GetAddr()); err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	// The role reconciler may write the same node meanwhile: retry a lost
	// race rather than fail a join whose raft half is done.
	var err error
	for range 5 {
		err = s.m.st.Update(ctx, func(tx *store.Tx) error {
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
		return nil, errdefs.ToGRPC(err)
	}
	return &api.JoinRaftResponse{}, nil
}

// LeaveRaft removes a manager from raft (swarm leave --force on a manager).
func (s *membership) LeaveRaft(ctx context.Context, r *api.LeaveRaftRequest) (*api.LeaveRaftResponse, error) {
	if err := ca.ValidNodeID(r.GetNodeId()); err != nil {
		return nil, errdefs.ToGRPC(errdefs.InvalidArgument("%v", err))
	}
	if id, ok := callerIdentity(ctx); ok && id.NodeID != r.GetNodeId() {
		return nil, status.Errorf(codes.PermissionDenied, "permission denied: node %s may not remove node %s from raft (demote it instead)", id.NodeID, r.GetNodeId())
	}
	if err := s.m.raft.RemoveServer(r.GetNodeId()); err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &api.LeaveRaftResponse{}, nil
}

// InitCluster writes a new swarm's first objects: the cluster with its root
// CA (made by swarm init with ca.Bootstrap, which also issued this node's
// certificate), its join tokens and first gossip key, this node as leader
// and manager, and the ingress network. Called once, on the bootstrapped
// manager, after it leads.
func (m *Manager) InitCluster(ctx context.Context, desc *api.NodeDescription, nodeAddr string, root *ca.RootCA) (*api.Cluster, error) {
	for m.allocator() == nil {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	id, err := m.cfg.Credentials.Identity()
	if err != nil {
		return nil, err
	}
	if id.NodeID != m.cfg.NodeID || !id.IsManager() || !root.Cert.Equal(m.rootOf(id)) {
		return nil, fmt.Errorf("init: this manager's certificate is not a manager certificate from the new root")
	}
	rootKey, err := root.KeyDER()
	if err != nil {
		return nil, err
	}
	gossipKey, err := newGossipKey()
	if err != nil {
		return nil, err
	}
	clusterID := id.ClusterID
	hb := m.cfg.Dispatcher.HeartbeatPeriod
	if hb <= 0 {
		hb = 5 * time.Second
	}
	c := &api.Cluster{
		Id:                    clusterID,
		Meta:                  &api.Meta{},
		RootCaCert:            root.Cert.Raw,
		RootCaKey:             rootKey,
		GossipKeys:            [][]byte{gossipKey},
		GossipKeysRotatedUnix: m.cfg.Clock().UnixNano(),
		Spec: &api.ClusterSpec{Name: "default", HeartbeatPeriod: durationpb.New(hb),
			TaskHistoryLimit: orchestrator.DefaultTaskHistoryLimit, CertExpiry: durationpb.New(90 * 24 * time.Hour)},
	}
	wt, err := jointoken.New(caBytes(c), nil)
	if err != nil {
		return nil, err
	}
	mt, err := jointoken.New(caBytes(c), nil)
	if err != nil {
		return nil, err
	}
	c.JoinTokens = &api.JoinTokens{Worker: wt.String(), Manager: mt.String()}
	host, _, _ := net.SplitHostPort(nodeAddr)
	_, leafPEM, _ := m.cfg.Credentials.PEM()
	leaf, _ := pem.Decode(leafPEM)
	err = m.st.Update(ctx, func(tx *store.Tx) error {
		if existing := tx.Cluster(); existing != nil {
			c = existing
			return nil
		}
		if err := tx.Create(c); err != nil {
			return err
		}
		return tx.Create(&api.Node{
			Id:            m.cfg.NodeID,
			Meta:          &api.Meta{},
			Spec:          &api.NodeSpec{DesiredRole: api.NodeRole_NODE_ROLE_MANAGER},
			Description:   desc,
			Role:          api.NodeRole_NODE_ROLE_MANAGER,
			Status:        &api.NodeStatus{State: api.NodeState_NODE_STATE_UNKNOWN, Addr: host},
			ManagerStatus: &api.ManagerStatus{Addr: m.cfg.AdvertiseAddr},
			Certificate:   pem.EncodeToMemory(leaf),
		})
	})
	if err != nil {
		return nil, err
	}
	_, err = m.control.CreateNetwork(ctx, &api.CreateNetworkRequest{Spec: &api.NetworkSpec{
		Name: "ingress", Driver: "overlay", Ingress: true,
		Labels: map[string]string{"com.docker.swarm.internal": "true"},
	}})
	if err != nil && !errdefs.Is(err, errdefs.KindAlreadyExists) {
		return nil, err
	}
	return c, nil
}

// rootOf returns the root among the manager's trusted roots that signed its
// own certificate (nil if none did).
func (m *Manager) rootOf(ca.Identity) *x509.Certificate {
	leaf := m.cfg.Credentials.Leaf()
	_, _, rootsPEM := m.cfg.Credentials.PEM()
	roots, err := ca.ParseCertificates(rootsPEM)
	if err != nil || leaf == nil {
		return nil
	}
	for _, r := range roots {
		if leaf.CheckSignatureFrom(r) == nil {
			return r
		}
	}
	return nil
}
