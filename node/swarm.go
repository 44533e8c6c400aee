package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/minsw/minsw/client/join"
	"github.com/minsw/minsw/internal/dialerr"
	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager"
	"github.com/minsw/minsw/manager/ca"
	"github.com/minsw/minsw/manager/forward"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/executor"
)

const notManager = "This node is not a swarm manager. Use \"minsw swarm init\" or \"minsw swarm join\" to connect this node to swarm and try again."

// toManager sends the local socket's Control and Membership calls to this
// node's manager (which forwards them to the leader), or refuses them on a
// worker as docker does.
func (n *Node) toManager(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !strings.HasPrefix(info.FullMethod, "/minsw.v1.Control/") && !strings.HasPrefix(info.FullMethod, "/minsw.v1.Membership/") {
		return handler(ctx, req)
	}
	n.mu.Lock()
	mgr, conn, inSwarm, locked := n.mgr, n.mgrConn, n.st != nil, n.locked
	n.mu.Unlock()
	if locked {
		return nil, errdefs.FailedPrecondition(lockedMessage)
	}
	if conn == nil {
		if !inSwarm {
			return nil, errdefs.FailedPrecondition("This node is not part of a swarm")
		}
		return nil, errdefs.FailedPrecondition(notManager)
	}
	if mgr != nil {
		// In memory, through the manager's own edge: no marshalling, no
		// TLS hop (the answer is marshalled once, by this socket).
		return mgr.CallLocal(ctx, n.credentials(), info.FullMethod, req)
	}
	reply, err := forward.NewReply(info.FullMethod)
	if err != nil {
		return nil, err
	}
	var trailer metadata.MD
	if err := conn.Invoke(ctx, info.FullMethod, req, reply, grpc.Trailer(&trailer)); err != nil {
		return nil, forward.ForwardError(info.FullMethod, err, trailer)
	}
	return reply, nil
}

// toManagerStream is toManager for streaming calls (service logs): the
// call is relayed to this node's manager over its mTLS connection.
func (n *Node) toManagerStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if !strings.HasPrefix(info.FullMethod, "/minsw.v1.Control/") {
		return handler(srv, ss)
	}
	n.mu.Lock()
	conn, inSwarm, locked := n.mgrConn, n.st != nil, n.locked
	n.mu.Unlock()
	if locked {
		return errdefs.FailedPrecondition(lockedMessage)
	}
	if conn == nil {
		if !inSwarm {
			return errdefs.FailedPrecondition("This node is not part of a swarm")
		}
		return errdefs.FailedPrecondition(notManager)
	}
	return forward.ForwardServerStream(ss.Context(), conn, info.FullMethod, ss)
}

// outsideSwarm refuses init and join on a node already in a swarm.
func (n *Node) outsideSwarm() error {
	n.mu.Lock()
	inSwarm := n.st != nil
	n.mu.Unlock()
	if inSwarm {
		return errdefs.FailedPrecondition("This node is already part of a swarm. Use \"minsw swarm leave\" to leave this swarm and join another one.")
	}
	return nil
}

// addresses works out where a node joining or creating a swarm listens and
// which IP it advertises, from the request and the daemon's defaults.
func (n *Node) addresses(reqListen, reqAdvertise string) (listen, host string, err error) {
	listen = normaliseListen(reqListen, n.cfg.ListenAddr)
	adv := reqAdvertise
	if adv == "" {
		adv = n.cfg.AdvertiseAddr
	}
	host, err = advertiseHost(adv, listen)
	if err != nil {
		return "", "", err
	}
	return listen, host, nil
}

// swarmAPI implements api.SwarmServer.
type swarmAPI struct {
	api.UnimplementedSwarmServer
	n *Node
}

// advertiseHost picks the IP other nodes reach this one at: the one given,
// else the listen address's, else the only non-loopback IPv4 address.
func advertiseHost(given, listen string) (string, error) {
	if given != "" {
		if h, _, err := net.SplitHostPort(given); err == nil {
			given = h
		}
		if ip := net.ParseIP(given); ip == nil {
			if ifi, err := net.InterfaceByName(given); err == nil {
				addrs, _ := ifi.Addrs()
				for _, a := range addrs {
					if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
						return ipn.IP.String(), nil
					}
				}
			}
			return "", errdefs.InvalidArgument("invalid advertise address %q: not an IP address or interface name", given)
		}
		return given, nil
	}
	if h, _, err := net.SplitHostPort(listen); err == nil && h != "" && h != "0.0.0.0" && h != "::" {
		return h, nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", err
	}
	var found []string
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
			found = append(found, ipn.IP.String())
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", errdefs.InvalidArgument("could not find an address to advertise: specify one with --advertise-addr")
	}
	return "", errdefs.InvalidArgument("could not choose an IP address to advertise since this system has multiple addresses (%s): specify one with --advertise-addr", strings.Join(found, ", "))
}

func listenPort(listen string) string {
	if _, p, err := net.SplitHostPort(listen); err == nil && p != "" {
		return p
	}
	return "2377"
}

func normaliseListen(listen, def string) string {
	if listen == "" {
		return def
	}
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return net.JoinHostPort(listen, "2377")
	}
	return listen
}

func (s *swarmAPI) Init(ctx context.Context, r *api.InitRequest) (*api.InitResponse, error) {
	n := s.n
	n.transition.Lock()
	defer n.transition.Unlock()
	if r.GetForceNewCluster() && n.outsideSwarm() != nil {
		return n.forceNewCluster(ctx)
	}
	if _, ok := api.NodeAvailability_name[int32(r.GetAvailability())]; !ok {
		return nil, errdefs.InvalidArgument("invalid availability %d: want active, pause or drain", r.GetAvailability())
	}
	if err := n.outsideSwarm(); err != nil {
		return nil, err
	}
	listen, host, err := n.addresses(r.GetListenAddr(), r.GetAdvertiseAddr())
	if err != nil {
		return nil, err
	}
	st := &state{NodeID: manager.NewNodeID(), Manager: true, ListenAddr: listen, AdvertiseAddr: net.JoinHostPort(host, listenPort(listen))}
	st.Managers = []string{st.AdvertiseAddr}
	// The root CA and this node's certificate exist before the manager
	// starts: the cluster port only ever serves mutual TLS.
	root, creds, err := ca.Bootstrap(manager.NewNodeID(), st.NodeID, 0, nil)
	if err != nil {
		return nil, err
	}
	if err := n.saveCredentials(creds); err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.creds = creds
	n.mu.Unlock()
	if err := n.startManager(st, true); err != nil {
		n.dropCredentials()
		return nil, err
	}
	n.mu.Lock()
	m := n.mgr
	n.mu.Unlock()
	ictx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	fail := func(err error) (*api.InitResponse, error) {
		n.stopManager()
		n.dropAtRest()
		n.dropCredentials()
		_ = os.RemoveAll(n.raftDir())
		return nil, err
	}
	if err := m.WaitLeader(ictx); err != nil {
		return fail(err)
	}
	c, err := m.InitCluster(ictx, n.description(), st.AdvertiseAddr, root, r.GetAvailability())
	if err != nil {
		return fail(err)
	}
	var unlockKey string
	if r.GetAutolock() {
		// The key is printed once; the DEK is wrapped and the TLS key
		// sealed before the user sees it.
		if unlockKey, err = m.SetAutolock(ictx, true); err != nil {
			return fail(err)
		}
		if err := n.applyUnlockKey(m, unlockKey); err != nil {
			return fail(err)
		}
	}
	st.ClusterID = c.GetId()
	if err := n.saveState(st); err != nil {
		return fail(err)
	}
	n.mu.Lock()
	n.st = st
	n.mu.Unlock()
	if err := n.startAgent(st); err != nil {
		return nil, err
	}
	return &api.InitResponse{
		NodeId:            st.NodeID,
		ClusterId:         c.GetId(),
		WorkerJoinCommand: fmt.Sprintf("minsw swarm join --token %s %s", c.GetJoinTokens().GetWorker(), st.AdvertiseAddr),
		UnlockKey:         unlockKey,
	}, nil
}

func (s *swarmAPI) Join(ctx context.Context, r *api.JoinRequest) (*api.JoinResponse, error) {
	n := s.n
	n.transition.Lock()
	defer n.transition.Unlock()
	if err := n.outsideSwarm(); err != nil {
		return nil, err
	}
	if len(r.GetRemoteAddrs()) == 0 {
		return nil, errdefs.InvalidArgument("no manager address given")
	}
	if r.GetJoinToken() == "" {
		return nil, errdefs.InvalidArgument("no join token given: use --token")
	}
	listen, host, err := n.addresses(r.GetListenAddr(), r.GetAdvertiseAddr())
	if err != nil {
		return nil, err
	}
	st := &state{ListenAddr: listen, AdvertiseAddr: net.JoinHostPort(host, listenPort(listen))}
	jctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var resp *api.JoinClusterResponse
	var lastErr error
	creds := ca.NewCredentials(nil)
	for _, addr := range r.GetRemoteAddrs() {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			addr = net.JoinHostPort(addr, "2377")
		}
		// The manager's root CA must be the one the token names before
		// anything else is sent to it.
		root, err := join.FetchRootCA(jctx, addr, r.GetJoinToken())
		if err == nil {
			err = creds.SetRoots(root)
		}
		if err == nil {
			resp, err = join.JoinCluster(jctx, addr, creds, &api.JoinClusterRequest{
				Token: r.GetJoinToken(), Description: n.description(), Addr: st.AdvertiseAddr,
				Availability: r.GetAvailability(),
			})
		}
		if err == nil {
			st.Managers = append(resp.GetManagerAddrs(), addr)
			break
		}
		lastErr = err
		if errdefs.KindOf(err) == errdefs.KindInvalidArgument {
			return nil, err
		}
	}
	if resp == nil {
		if errors.Is(lastErr, context.DeadlineExceeded) || errdefs.KindOf(lastErr) == errdefs.KindUnknown || errdefs.KindOf(lastErr) == errdefs.KindUnavailable {
			return nil, errdefs.Unavailable("could not reach a manager at %s: %v", strings.Join(r.GetRemoteAddrs(), ", "), lastErr)
		}
		return nil, lastErr
	}
	st.NodeID, st.ClusterID, st.ManagerIDs = resp.GetNodeId(), resp.GetClusterId(), resp.GetManagerIds()
	if err := n.saveCredentials(creds); err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.creds = creds
	n.mu.Unlock()
	if resp.GetRole() == api.NodeRole_NODE_ROLE_MANAGER {
		st.Manager = true
		if err := n.startManager(st, false); err != nil {
			return nil, err
		}
		var err error
		for _, addr := range st.Managers {
			conn, cerr := n.dialManager(creds, addr)
			if cerr != nil {
				err = cerr
				continue
			}
			_, err = api.NewMembershipClient(conn).JoinRaft(jctx, &api.JoinRaftRequest{NodeId: st.NodeID, Addr: st.AdvertiseAddr})
			conn.Close()
			if err == nil {
				break
			}
		}
		if err != nil {
			n.stopManager()
			n.dropAtRest()
			n.dropCredentials()
			_ = os.RemoveAll(filepath.Join(n.raftDir(), "raft"))
			return nil, err
		}
	}
	if err := n.saveState(st); err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.st = st
	n.mu.Unlock()
	if err := n.startAgent(st); err != nil {
		return nil, err
	}
	return &api.JoinResponse{NodeId: st.NodeID, Role: resp.GetRole()}, nil
}

func (s *swarmAPI) Leave(ctx context.Context, r *api.LeaveRequest) (*api.LeaveResponse, error) {
	n := s.n
	n.transition.Lock()
	defer n.transition.Unlock()
	n.mu.Lock()
	st, m, locked := n.st, n.mgr, n.locked
	n.mu.Unlock()
	if st == nil {
		return nil, errdefs.FailedPrecondition("This node is not part of a swarm")
	}
	if locked && !r.GetForce() {
		return nil, errdefs.FailedPrecondition("Swarm is locked: this manager's raft data cannot be read without the unlock key. Use \"minsw swarm unlock\" first, or \"minsw swarm leave --force\" to leave it anyway.")
	}
	if m != nil {
		if !r.GetForce() {
			return nil, errdefs.FailedPrecondition("You are attempting to leave the swarm on a node that is participating as a manager. Removing this node leaves the remaining managers without it; use `--force` to ignore this message, or demote it first.")
		}
		if len(m.Managers()) > 1 {
			lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			n.mu.Lock()
			conn := n.mgrConn
			n.mu.Unlock()
			if conn != nil {
				_, _ = api.NewMembershipClient(conn).LeaveRaft(lctx, &api.LeaveRaftRequest{NodeId: st.NodeID})
			}
			cancel()
		}
	}
	n.stopAgent()
	n.stopManager()
	if err := n.removeContainers(ctx); err != nil {
		n.log.Warn("leave: removing containers", "err", err)
	}
	n.teardownNetworking(ctx)
	n.dropAtRest()
	_ = os.RemoveAll(n.raftDir())
	n.mu.Lock()
	n.st, n.creds, n.locked = nil, nil, false
	n.mu.Unlock()
	return &api.LeaveResponse{}, nil
}

// removeContainers stops and removes every container of this node.
func (n *Node) removeContainers(ctx context.Context) error {
	cs, err := n.cfg.Executor.List(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range cs {
		if c.State == executor.StateRunning {
			_ = n.cfg.Executor.Stop(ctx, c.ID, 10*time.Second)
		}
		if err := n.cfg.Executor.Remove(ctx, c.ID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *swarmAPI) Info(ctx context.Context, _ *api.InfoRequest) (*api.InfoResponse, error) {
	n := s.n
	n.mu.Lock()
	st, m, a, locked := n.st, n.mgr, n.agent, n.locked
	n.mu.Unlock()
	if st == nil {
		return &api.InfoResponse{LocalNodeState: "inactive"}, nil
	}
	if locked {
		host, _, _ := net.SplitHostPort(st.AdvertiseAddr)
		return &api.InfoResponse{LocalNodeState: "locked", NodeId: st.NodeID, ClusterId: st.ClusterID, NodeAddr: host, Managers: st.Managers}, nil
	}
	resp := &api.InfoResponse{LocalNodeState: "active", NodeId: st.NodeID, ClusterId: st.ClusterID, ControlAvailable: m != nil}
	host, _, _ := net.SplitHostPort(st.AdvertiseAddr)
	resp.NodeAddr = host
	if m != nil {
		if members := m.Managers(); members != nil {
			resp.Managers = members
			resp.ManagerCount = int32(len(members))
		}
		resp.Nodes = int32(m.NodeCount())
	} else {
		resp.Managers = st.Managers
		if a != nil {
			if err := a.SessionError(); err != nil {
				resp.LocalNodeState = "pending"
				resp.Error = err.Error()
				if st, ok := status.FromError(err); ok && !dialerr.IsUnreachable(err) {
					resp.Error = st.Message() // the manager's words, not gRPC's
				}
			}
		}
	}
	return resp, nil
}

// dropCredentials forgets a certificate that a failed init or join made.
func (n *Node) dropCredentials() {
	n.mu.Lock()
	n.creds = nil
	n.mu.Unlock()
	_ = os.RemoveAll(n.certDir())
}
