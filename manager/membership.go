package manager

import (
	"context"
	"net"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/minsw/minsw/internal/errdefs"
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

// caBytes is what join tokens digest: the root CA certificate, or, until
// the cluster has one, its ID.
func caBytes(c *api.Cluster) []byte {
	if len(c.GetRootCaCert()) > 0 {
		return c.GetRootCaCert()
	}
	return []byte(c.GetId())
}

// JoinCluster admits a node holding a valid token and records it.
func (s *membership) JoinCluster(ctx context.Context, r *api.JoinClusterRequest) (*api.JoinClusterResponse, error) {
	tok, err := jointoken.Parse(r.GetToken())
	if err != nil {
		return nil, errdefs.ToGRPC(errdefs.InvalidArgument("%v", err))
	}
	host, _, err := net.SplitHostPort(r.GetAddr())
	if err != nil {
		return nil, errdefs.ToGRPC(errdefs.InvalidArgument("invalid node address %q: want host:port", r.GetAddr()))
	}
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
		switch {
		case jointoken.Equal(r.GetToken(), c.GetJoinTokens().GetWorker()):
		case jointoken.Equal(r.GetToken(), c.GetJoinTokens().GetManager()):
			role = api.NodeRole_NODE_ROLE_MANAGER
		default:
			return errdefs.InvalidArgument("invalid join token: it is not this swarm's current worker or manager token (was it rotated?)")
		}
		id := r.GetNodeId()
		if id == "" || tx.Node(id) != nil {
			id = identity.NewID()
		}
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
		resp = &api.JoinClusterResponse{NodeId: id, ClusterId: c.GetId(), Role: role, RootCaCert: c.GetRootCaCert()}
		return tx.Create(n)
	})
	if err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	resp.ManagerAddrs = s.m.managerAddrs()
	return resp, nil
}

// JoinRaft makes a node whose desired role is manager a raft voter.
func (s *membership) JoinRaft(ctx context.Context, r *api.JoinRaftRequest) (*api.JoinRaftResponse, error) {
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
	err := s.m.st.Update(ctx, func(tx *store.Tx) error {
		n := tx.Node(r.GetNodeId())
		if n == nil {
			return nil
		}
		nn := proto.Clone(n).(*api.Node)
		nn.Role = api.NodeRole_NODE_ROLE_MANAGER
		nn.ManagerStatus = &api.ManagerStatus{Addr: r.GetAddr()}
		return tx.Update(nn)
	})
	if err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &api.JoinRaftResponse{}, nil
}

// LeaveRaft removes a manager from raft (swarm leave --force on a manager).
func (s *membership) LeaveRaft(ctx context.Context, r *api.LeaveRaftRequest) (*api.LeaveRaftResponse, error) {
	if err := s.m.raft.RemoveServer(r.GetNodeId()); err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &api.LeaveRaftResponse{}, nil
}

// InitCluster writes a new swarm's first objects: the cluster with its join
// tokens, this node as leader and manager, and the ingress network. Called
// once, on the bootstrapped manager, after it leads.
func (m *Manager) InitCluster(ctx context.Context, desc *api.NodeDescription, nodeAddr string) (*api.Cluster, error) {
	for m.allocator() == nil {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	clusterID := identity.NewID()
	hb := m.cfg.Dispatcher.HeartbeatPeriod
	if hb <= 0 {
		hb = 5 * time.Second
	}
	c := &api.Cluster{
		Id:   clusterID,
		Meta: &api.Meta{},
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
