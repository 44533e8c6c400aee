// Package controlapi serves the Control API on the leader: it validates
// every request, resolves names and ID prefixes, allocates what a new object
// needs and writes it in one store batch, so a refused request leaves the
// store untouched. It does not forward (the manager's interceptor sends
// followers' calls to the leader) and runs no loops.
package controlapi

import (
	"context"
	"slices"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/allocator"
	"github.com/minsw/minsw/manager/ca"
	"github.com/minsw/minsw/manager/encryption"
	"github.com/minsw/minsw/manager/identity"
	"github.com/minsw/minsw/manager/jointoken"
	"github.com/minsw/minsw/manager/logbroker"
	"github.com/minsw/minsw/manager/store"
	"github.com/minsw/minsw/netdriver/ipsec"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Raft is what the API needs to know of raft membership.
type Raft interface {
	// LeaderID is the current leader's node ID ("" when none).
	LeaderID() string
	// Reachable reports whether a manager answers the leader's heartbeats.
	Reachable(nodeID string) bool
}

// Server implements api.ControlServer.
type Server struct {
	api.UnimplementedControlServer

	st    *store.Store
	alloc func() *allocator.Allocator
	raft  Raft
	newID func() string
	// encrypted refuses encrypted overlays this manager cannot carry.
	encrypted func(network string) error
	ca        CA
	logs      *logbroker.Broker
	isLeader  func() bool
}

// Config configures a Server.
type Config struct {
	Store *store.Store
	// Allocator returns the leader's allocator of this term (nil while
	// this manager does not lead).
	Allocator func() *allocator.Allocator
	Raft      Raft
	NewID     func() string
	// EncryptedNetworks decides whether an encrypted overlay (--opt
	// encrypted) named by its argument may be created: the node checks its
	// own kernel. nil refuses every encrypted network.
	EncryptedNetworks func(network string) error
	// CA rotates the root (RotateRootCA); nil refuses it.
	CA CA
	// Logs is the leader's log broker (ServiceLogs); nil refuses logs.
	Logs *logbroker.Broker
	// IsLeader reports whether this manager leads (ServiceLogs runs on the
	// leader only); nil: always.
	IsLeader func() bool
}

// New returns a Control server. The allocator must be the leader's.
func New(cfg Config) *Server {
	if cfg.NewID == nil {
		cfg.NewID = identity.NewID
	}
	if cfg.EncryptedNetworks == nil {
		cfg.EncryptedNetworks = func(network string) error {
			return errdefs.FailedPrecondition("overlay network %s is encrypted, and this manager cannot encrypt overlay networks", network)
		}
	}
	if cfg.IsLeader == nil {
		cfg.IsLeader = func() bool { return true }
	}
	return &Server{st: cfg.Store, alloc: cfg.Allocator, raft: cfg.Raft, newID: cfg.NewID, encrypted: cfg.EncryptedNetworks,
		ca: cfg.CA, logs: cfg.Logs, isLeader: cfg.IsLeader}
}

// allocator is the leader's allocator, or the error a write gets while
// there is none.
func (s *Server) allocator() (*allocator.Allocator, error) {
	if a := s.alloc(); a != nil {
		return a, nil
	}
	return nil, errdefs.Unavailable("the swarm does not have a leader. It's possible that too few managers are online. Make sure more than half of the managers are online")
}

func (s *Server) view(fn func(tx store.ReadTx) error) error {
	var err error
	s.st.View(func(tx store.ReadTx) { err = fn(tx) })
	return err
}

// conflictRetries bounds how often a request is re-run after losing a race
// with another writer (a task status report, say) on the same objects.
const conflictRetries = 8

// update runs fn in a store write, re-running it on fresh state when the
// write lost a race with another writer; fn must therefore be repeatable
// (undo its own side effects when it starts again). A conflict that fn
// reports itself (a stale version the caller sent) is returned as is.
func (s *Server) update(ctx context.Context, fn func(tx *store.Tx) error) error {
	var err error
	for i := 0; i < conflictRetries; i++ {
		var own bool
		err = s.st.Update(ctx, func(tx *store.Tx) error {
			ferr := fn(tx)
			own = ferr != nil
			return ferr
		})
		if err == nil || own || !errdefs.Is(err, errdefs.KindConflict) {
			break
		}
	}
	return err
}

// ---- nodes

// withManagerStatus fills the live raft view into a manager's status.
func (s *Server) withManagerStatus(n *api.Node) *api.Node {
	if n.GetRole() != api.NodeRole_NODE_ROLE_MANAGER || s.raft == nil {
		return n
	}
	n = proto.Clone(n).(*api.Node)
	if n.ManagerStatus == nil {
		n.ManagerStatus = &api.ManagerStatus{}
	}
	n.ManagerStatus.Leader = s.raft.LeaderID() == n.GetId()
	if n.ManagerStatus.Leader || s.raft.Reachable(n.GetId()) {
		n.ManagerStatus.Reachability = api.Reachability_REACHABILITY_REACHABLE
	} else {
		n.ManagerStatus.Reachability = api.Reachability_REACHABILITY_UNREACHABLE
	}
	return n
}

func (s *Server) GetNode(_ context.Context, r *api.GetNodeRequest) (*api.GetNodeResponse, error) {
	var out *api.Node
	err := s.view(func(tx store.ReadTx) error {
		n, err := tx.ResolveNode(r.GetRef())
		out = n
		return err
	})
	if err != nil {
		return nil, err
	}
	return &api.GetNodeResponse{Node: s.withManagerStatus(out)}, nil
}

func (s *Server) ListNodes(_ context.Context, r *api.ListNodesRequest) (*api.ListNodesResponse, error) {
	f, err := ParseFilters(r.GetFilters(), nodeFilterKeys)
	if err != nil {
		return nil, err
	}
	var nodes []*api.Node
	s.st.View(func(tx store.ReadTx) { nodes = tx.Nodes() })
	nodes = filterList(nodes, func(n *api.Node) bool { return MatchNode(n, f) })
	// By hostname, as `node ls` shows them; the ID keeps the order total.
	page, next, err := listPage(nodes, func(n *api.Node) string { return n.GetDescription().GetHostname() + "\x00" + n.GetId() }, r.GetPageSize(), r.GetPageToken())
	if err != nil {
		return nil, err
	}
	out := make([]*api.Node, len(page))
	for i, n := range page {
		out[i] = s.withManagerStatus(n)
	}
	return &api.ListNodesResponse{Nodes: out, NextPageToken: next}, nil
}

// UpdateNode changes a node's spec. The request must carry the version it
// read (a missing or stale one is refused as out of sequence, so a blind or
// raced write cannot demote a manager), and with an update mask only the
// fields it names change.
func (s *Server) UpdateNode(ctx context.Context, r *api.UpdateNodeRequest) (*api.UpdateNodeResponse, error) {
	if r.GetSpec() == nil {
		return nil, errdefs.InvalidArgument("no node spec given")
	}
	if err := checkRequest(r); err != nil {
		return nil, err
	}
	paths, err := nodeMask(r.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	var id string
	err = s.update(ctx, func(tx *store.Tx) error {
		n, err := tx.ResolveNode(r.GetRef())
		if err != nil {
			return err
		}
		if err := checkVersion("node", n.GetDescription().GetHostname(), r.GetVersion(), n.GetMeta().GetVersion()); err != nil {
			return err
		}
		spec := mergeNodeSpec(n.GetSpec(), r.GetSpec(), paths)
		if n.GetSpec().GetDesiredRole() == api.NodeRole_NODE_ROLE_MANAGER && spec.GetDesiredRole() == api.NodeRole_NODE_ROLE_WORKER {
			managers := 0
			for _, o := range tx.Nodes() {
				if o.GetSpec().GetDesiredRole() == api.NodeRole_NODE_ROLE_MANAGER {
					managers++
				}
			}
			if managers <= 1 {
				return errdefs.FailedPrecondition("attempting to demote the last manager of the swarm")
			}
		}
		nn := proto.Clone(n).(*api.Node)
		nn.Spec = spec
		id = nn.GetId()
		return tx.Update(nn)
	})
	if err != nil {
		return nil, err
	}
	var out *api.Node
	s.st.View(func(tx store.ReadTx) { out = tx.Node(id) })
	return &api.UpdateNodeResponse{Node: out}, nil
}

// checkVersion refuses an update that does not carry the version of what it
// changes: docker's "update out of sequence".
func checkVersion(kind, name string, got, have uint64) error {
	if got == 0 {
		return errdefs.Conflict("update out of sequence: the update of %s %s carries no version (read the %s and send its version)", kind, name, kind)
	}
	if got != have {
		return errdefs.Conflict("update out of sequence: %s %s changed meanwhile (version %d, the update was made from version %d)", kind, name, have, got)
	}
	return nil
}

// nodeSpecFields are the update mask paths a node spec has.
var nodeSpecFields = []string{"labels", "desired_role", "availability"}

func nodeMask(paths []string) (map[string]bool, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	out := map[string]bool{}
	for _, p := range paths {
		p = strings.TrimPrefix(p, "spec.")
		if !contains(nodeSpecFields, p) {
			return nil, errdefs.InvalidArgument("invalid update mask path %q: a node spec has %s", p, strings.Join(nodeSpecFields, ", "))
		}
		out[p] = true
	}
	return out, nil
}

// mergeNodeSpec returns cur with the fields named in paths taken from upd,
// or upd itself when paths is empty (a whole-spec replacement).
func mergeNodeSpec(cur, upd *api.NodeSpec, paths map[string]bool) *api.NodeSpec {
	if paths == nil {
		return proto.Clone(upd).(*api.NodeSpec)
	}
	out := &api.NodeSpec{}
	if cur != nil {
		out = proto.Clone(cur).(*api.NodeSpec)
	}
	if paths["labels"] {
		out.Labels = upd.GetLabels()
	}
	if paths["desired_role"] {
		out.DesiredRole = upd.GetDesiredRole()
	}
	if paths["availability"] {
		out.Availability = upd.GetAvailability()
	}
	return out
}

func (s *Server) RemoveNode(ctx context.Context, r *api.RemoveNodeRequest) (*api.RemoveNodeResponse, error) {
	err := s.update(ctx, func(tx *store.Tx) error {
		n, err := tx.ResolveNode(r.GetRef())
		if err != nil {
			return err
		}
		if n.GetRole() == api.NodeRole_NODE_ROLE_MANAGER || n.GetSpec().GetDesiredRole() == api.NodeRole_NODE_ROLE_MANAGER {
			return errdefs.FailedPrecondition("node %s is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal", n.GetDescription().GetHostname())
		}
		if !r.GetForce() && n.GetStatus().GetState() == api.NodeState_NODE_STATE_READY {
			return errdefs.FailedPrecondition("node %s is not down and can't be removed (use --force to remove it anyway)", n.GetDescription().GetHostname())
		}
		// The ID goes on the swarm's revocation list in the same write:
		// every certificate naming it is refused from now on, and it is
		// never issued again.
		if c := tx.Cluster(); c != nil && !slices.Contains(c.GetRemovedNodeIds(), n.GetId()) {
			nc := proto.Clone(c).(*api.Cluster)
			nc.RemovedNodeIds = append(nc.RemovedNodeIds, n.GetId())
			if err := tx.Update(nc); err != nil {
				return err
			}
		}
		return tx.Delete(n)
	})
	if err != nil {
		return nil, err
	}
	return &api.RemoveNodeResponse{}, nil
}

// ---- networks

func (s *Server) GetNetwork(_ context.Context, r *api.GetNetworkRequest) (*api.GetNetworkResponse, error) {
	var out *api.Network
	err := s.view(func(tx store.ReadTx) error {
		n, err := tx.ResolveNetwork(r.GetRef())
		out = n
		return err
	})
	if err != nil {
		return nil, err
	}
	return &api.GetNetworkResponse{Network: out}, nil
}

func (s *Server) ListNetworks(_ context.Context, r *api.ListNetworksRequest) (*api.ListNetworksResponse, error) {
	f, err := ParseFilters(r.GetFilters(), networkFilterKeys)
	if err != nil {
		return nil, err
	}
	var all []*api.Network
	s.st.View(func(tx store.ReadTx) { all = tx.Networks() })
	all = filterList(all, func(n *api.Network) bool { return MatchNetwork(n, f) })
	out, next, err := listPage(all, func(n *api.Network) string { return n.GetSpec().GetName() }, r.GetPageSize(), r.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &api.ListNetworksResponse{Networks: out, NextPageToken: next}, nil
}

func (s *Server) CreateNetwork(ctx context.Context, r *api.CreateNetworkRequest) (*api.CreateNetworkResponse, error) {
	spec := r.GetSpec()
	if spec == nil {
		return nil, errdefs.InvalidArgument("no network spec given")
	}
	if err := checkRequest(r); err != nil {
		return nil, err
	}
	spec = proto.Clone(spec).(*api.NetworkSpec)
	if err := ValidateName("network", spec.GetName()); err != nil {
		return nil, err
	}
	if err := checkPredefinedName(spec.GetName()); err != nil { // hostnet.go
		return nil, err
	}
	switch spec.GetDriver() {
	case "":
		spec.Driver = "overlay"
	case "overlay":
	default:
		return nil, errdefs.InvalidArgument("network driver %q is not supported: minsw networks use the overlay driver", spec.GetDriver())
	}
	if err := ipsec.ValidateOption(spec.GetDriverOpts()); err != nil {
		return nil, err
	}
	// An encrypted network is refused where this manager's kernel cannot
	// carry it (nodes check their own kernels again before attaching a
	// task): better an error now than traffic in clear later.
	if ipsec.Encrypted(spec.GetDriverOpts()) {
		if err := s.encrypted(spec.GetName()); err != nil {
			return nil, err
		}
	}
	if _, err := s.allocator(); err != nil {
		return nil, err
	}
	// No lock across the write: two creates at once may plan the same
	// subnet or VNI; the store lets the first have it and the second plans
	// again (s.update retries a Conflict).
	var id string
	err := s.update(ctx, func(tx *store.Tx) error {
		if prior, err := priorNetwork(tx.ReadTx, r); prior != nil || err != nil {
			id = prior.GetId() // a retry: the earlier attempt made it
			return err
		}
		if n := tx.NetworkByName(spec.GetName()); n != nil {
			return errdefs.AlreadyExists("network with name %s already exists", spec.GetName())
		}
		if spec.GetIngress() {
			for _, n := range tx.Networks() {
				if n.GetSpec().GetIngress() {
					return errdefs.AlreadyExists("an ingress network (%s) already exists", n.GetSpec().GetName())
				}
			}
		}
		subnet, gw, vni, err := allocator.PlanNetwork(tx.ReadTx, spec)
		if err != nil {
			return err
		}
		n := &api.Network{Id: s.newID(), Meta: &api.Meta{IdempotencyKey: r.GetIdempotencyKey()}, Spec: spec, Subnet: subnet.String(), Gateway: gw.String(), Vni: vni}
		id = n.GetId()
		return tx.Create(n)
	})
	if err != nil {
		if prior := s.racedNetwork(r, err); prior != nil {
			return &api.CreateNetworkResponse{Network: prior}, nil
		}
		return nil, err
	}
	// What was stored, with the version it got (the write above only
	// proposed it).
	var out *api.Network
	s.st.View(func(tx store.ReadTx) { out = tx.Network(id) })
	return &api.CreateNetworkResponse{Network: out}, nil
}

func (s *Server) RemoveNetwork(ctx context.Context, r *api.RemoveNetworkRequest) (*api.RemoveNetworkResponse, error) {
	err := s.update(ctx, func(tx *store.Tx) error {
		n, err := tx.ResolveNetwork(r.GetRef())
		if err != nil {
			return err
		}
		var users, meshUsers []string
		for _, svc := range tx.Services() {
			for _, a := range svc.GetSpec().GetTask().GetNetworks() {
				if a.GetTarget() == n.GetId() {
					users = append(users, svc.GetSpec().GetName())
				}
			}
			if n.GetSpec().GetIngress() && allocator.UsesIngress(svc.GetSpec().GetEndpoint().GetPorts()) {
				meshUsers = append(meshUsers, svc.GetSpec().GetName())
			}
		}
		if len(meshUsers) > 0 {
			sort.Strings(meshUsers)
			return errdefs.FailedPrecondition("ingress network cannot be removed because service %s depends on it", joinNames(meshUsers))
		}
		if len(users) > 0 {
			sort.Strings(users)
			return errdefs.FailedPrecondition("network %s is in use by service %s", n.GetSpec().GetName(), joinNames(users))
		}
		for _, t := range tx.Tasks() {
			for _, a := range t.GetNetworks() {
				if a.GetNetworkId() == n.GetId() && t.GetStatus().GetState() <= api.TaskState_TASK_STATE_RUNNING {
					return errdefs.FailedPrecondition("network %s is in use by task %s.%d.%s (still %s; try again once it has stopped)",
						n.GetSpec().GetName(), t.GetServiceName(), t.GetSlot(), t.GetId(), strings.ToLower(strings.TrimPrefix(t.GetStatus().GetState().String(), "TASK_STATE_")))
				}
			}
		}
		// Nodes drop their lb endpoint on it in the same write.
		for _, nd := range tx.Nodes() {
			var keep []*api.NetworkAttachment
			for _, a := range nd.GetLbAttachments() {
				if a.GetNetworkId() != n.GetId() {
					keep = append(keep, a)
				}
			}
			if len(keep) != len(nd.GetLbAttachments()) {
				nn := proto.Clone(nd).(*api.Node)
				nn.LbAttachments = keep
				if err := tx.Update(nn); err != nil {
					return err
				}
			}
		}
		return tx.Delete(n)
	})
	if err != nil {
		return nil, err
	}
	return &api.RemoveNetworkResponse{}, nil
}

func joinNames(s []string) string {
	out := ""
	for i, n := range s {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}

// ---- tasks

func (s *Server) GetTask(_ context.Context, r *api.GetTaskRequest) (*api.GetTaskResponse, error) {
	var out *api.Task
	err := s.view(func(tx store.ReadTx) error {
		t, err := tx.ResolveTask(r.GetRef())
		out = t
		return err
	})
	if err != nil {
		return nil, err
	}
	return &api.GetTaskResponse{Task: redactTask(out)}, nil
}

func (s *Server) ListTasks(_ context.Context, r *api.ListTasksRequest) (*api.ListTasksResponse, error) {
	f, err := ParseFilters(r.GetFilters(), taskFilterKeys)
	if err != nil {
		return nil, err
	}
	desired := map[api.TaskState]bool{}
	for _, d := range r.GetDesiredStates() {
		desired[d] = true
	}
	keep := func(t *api.Task) bool {
		if len(r.GetNodeIds()) > 0 && !contains(r.GetNodeIds(), t.GetNodeId()) {
			return false
		}
		return len(desired) == 0 || desired[t.GetDesiredState()]
	}
	var (
		all     []*api.Task
		version uint64
	)
	s.st.ViewVersion(func(tx store.ReadTx, v uint64) {
		version = v
		var ts []*api.Task
		switch {
		case len(r.GetServiceIds()) > 0:
			for _, id := range r.GetServiceIds() {
				ts = append(ts, tx.TasksByService(id)...)
			}
		case len(r.GetNodeIds()) > 0:
			for _, id := range r.GetNodeIds() {
				ts = append(ts, tx.TasksByNode(id)...)
			}
		default:
			ts = tx.Tasks()
		}
		for _, t := range ts {
			if keep(t) && (len(f) == 0 || matchTask(t, tx.Node(t.GetNodeId()).GetDescription().GetHostname(), f)) {
				all = append(all, t)
			}
		}
	})
	out, next, err := listPage(all, func(t *api.Task) string { return t.GetId() }, r.GetPageSize(), r.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &api.ListTasksResponse{Tasks: redactTasks(out), NextPageToken: next, StoreVersion: version}, nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// ---- cluster

func (s *Server) GetCluster(context.Context, *api.GetClusterRequest) (*api.GetClusterResponse, error) {
	var c *api.Cluster
	s.st.View(func(tx store.ReadTx) { c = tx.Cluster() })
	if c == nil {
		return nil, errdefs.FailedPrecondition("this node is not part of a swarm")
	}
	return &api.GetClusterResponse{Cluster: redactCluster(c)}, nil
}

// updateUnlockKey keeps the cluster's unlock key in step with autolock: a
// new key when autolock turns on or on rotation, none when it is off.
// Managers watch the key and re-wrap their data encryption keys with it.
func updateUnlockKey(c *api.Cluster, rotate bool) error {
	if !c.GetSpec().GetAutolock() {
		if rotate {
			return errdefs.FailedPrecondition("cannot rotate because autolock is not turned on")
		}
		c.UnlockKey = ""
		return nil
	}
	if c.GetUnlockKey() != "" && !rotate {
		return nil
	}
	k, err := encryption.NewUnlockKey()
	if err != nil {
		return err
	}
	c.UnlockKey = k
	return nil
}

// GetUnlockKey returns the autolock unlock key, "" when autolock is off.
func (s *Server) GetUnlockKey(context.Context, *api.GetUnlockKeyRequest) (*api.GetUnlockKeyResponse, error) {
	var c *api.Cluster
	s.st.View(func(tx store.ReadTx) { c = tx.Cluster() })
	if c == nil {
		return nil, errdefs.FailedPrecondition("this node is not part of a swarm")
	}
	return &api.GetUnlockKeyResponse{UnlockKey: c.GetUnlockKey()}, nil
}

func (s *Server) UpdateCluster(ctx context.Context, r *api.UpdateClusterRequest) (*api.UpdateClusterResponse, error) {
	if err := checkRequest(r); err != nil {
		return nil, err
	}
	if d := r.GetSpec().GetCertExpiry(); d != nil && d.AsDuration() < ca.MinCertExpiry {
		return nil, errdefs.InvalidArgument("certificate expiry %s is too short: at least %s", d.AsDuration(), ca.MinCertExpiry)
	}
	err := s.update(ctx, func(tx *store.Tx) error {
		c := tx.Cluster()
		if c == nil {
			return errdefs.FailedPrecondition("this node is not part of a swarm")
		}
		if err := checkVersion("cluster", c.GetSpec().GetName(), r.GetVersion(), c.GetMeta().GetVersion()); err != nil {
			return err
		}
		nc := proto.Clone(c).(*api.Cluster)
		if r.GetSpec() != nil {
			if hb := r.GetSpec().GetHeartbeatPeriod(); hb != nil && hb.AsDuration() < 100*time.Millisecond {
				return errdefs.InvalidArgument("heartbeat period %s is too short", hb.AsDuration())
			}
			if r.GetSpec().GetTaskHistoryLimit() < 0 {
				return errdefs.InvalidArgument("task history limit must not be negative")
			}
			nc.Spec = r.GetSpec()
		}
		if err := updateUnlockKey(nc, r.GetRotateUnlockKey()); err != nil {
			return err
		}
		if r.GetRotateWorkerToken() {
			t, err := jointoken.New(nc.GetRootCaCert(), nil)
			if err != nil {
				return err
			}
			nc.JoinTokens.Worker = t.String()
		}
		if r.GetRotateManagerToken() {
			t, err := jointoken.New(nc.GetRootCaCert(), nil)
			if err != nil {
				return err
			}
			nc.JoinTokens.Manager = t.String()
		}
		return tx.Update(nc)
	})
	if err != nil {
		return nil, err
	}
	var out *api.Cluster
	s.st.View(func(tx store.ReadTx) { out = tx.Cluster() })
	return &api.UpdateClusterResponse{Cluster: redactCluster(out)}, nil
}
