package node

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/netdriver"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/agent"
	"github.com/minsw/minsw/worker/netagent"
)

// newNetworking makes the task networking of one swarm membership from
// the daemon's template, or nil when the daemon runs without (the fake
// executor has no namespaces to network).
func (n *Node) newNetworking(st *state) (*netagent.Agent, error) {
	if n.cfg.Networking == nil {
		return nil, nil
	}
	host, _, err := net.SplitHostPort(st.AdvertiseAddr)
	if err != nil {
		return nil, fmt.Errorf("node: advertise address %q: %w", st.AdvertiseAddr, err)
	}
	vtep, err := netip.ParseAddr(host)
	if err != nil {
		return nil, fmt.Errorf("node: advertise address %q is not an IP address: %w", host, err)
	}
	cfg := *n.cfg.Networking
	cfg.NodeID = st.NodeID
	cfg.ExecRoot = n.cfg.ExecRoot
	cfg.VTEP = vtep
	cfg.Gossip.Hostname = n.cfg.Hostname
	// Gossip binds to and advertises the node's advertise address: left to
	// itself memberlist picks an interface address, and after a restart
	// that can be the gateway bridge's (172.18.0.1), which no peer reaches.
	if cfg.Gossip.BindAddr == "" || cfg.Gossip.BindAddr == "0.0.0.0" {
		cfg.Gossip.BindAddr = host
	}
	if cfg.Gossip.AdvertiseAddr == "" {
		cfg.Gossip.AdvertiseAddr = host
	}
	if cfg.Gossip.BindPort == 0 {
		cfg.Gossip.BindPort = netagent.DefaultGossipPort
	}
	port := cfg.Gossip.BindPort
	cfg.Peers = func() []string { return n.gossipPeers(host, port) }
	if cfg.Logger == nil {
		cfg.Logger = n.cfg.Logger
	}
	return netagent.New(cfg)
}

// startNetworking runs the netagent beside the worker agent, on its
// context.
func (n *Node) startNetworking(ctx context.Context, na *netagent.Agent, a *agent.Agent) {
	if na == nil {
		return
	}
	done := make(chan struct{})
	n.mu.Lock()
	n.net, n.netDone = na, done
	n.mu.Unlock()
	go func() {
		defer close(done)
		if err := na.Run(ctx, a); err != nil && ctx.Err() == nil {
			n.log.Error("task networking stopped", "err", err)
		}
	}()
}

// waitNetworking waits for the netagent's Run to end (after the agent's
// context was cancelled).
func (n *Node) waitNetworking() {
	n.mu.Lock()
	done := n.netDone
	n.mu.Unlock()
	if done != nil {
		<-done
	}
}

// teardownNetworking removes every namespace, link and load balancer the
// node's task networking made: the node left the swarm.
func (n *Node) teardownNetworking(ctx context.Context) {
	n.waitNetworking()
	n.mu.Lock()
	na := n.net
	n.net, n.netDone = nil, nil
	n.mu.Unlock()
	if na == nil {
		return
	}
	if err := na.Teardown(ctx); err != nil {
		n.log.Warn("leave: tearing down task networking", "err", err)
	}
}

// gossipPeers are the gossip addresses to join: the managers', and on a
// manager every node's the store knows.
func (n *Node) gossipPeers(self string, port int) []string {
	n.mu.Lock()
	st, m := n.st, n.mgr
	n.mu.Unlock()
	hosts := map[string]bool{}
	if st != nil {
		for _, a := range st.Managers {
			if h, _, err := net.SplitHostPort(a); err == nil {
				hosts[h] = true
			}
		}
	}
	if m != nil {
		for _, a := range m.NodeAddrs() {
			hosts[a] = true
		}
	}
	delete(hosts, self)
	out := make([]string, 0, len(hosts))
	for h := range hosts {
		out = append(out, net.JoinHostPort(h, strconv.Itoa(port)))
	}
	sort.Strings(out)
	return out
}

// networksAPI implements api.NetworksServer from the node's netagent.
type networksAPI struct {
	api.UnimplementedNetworksServer
	n *Node
}

func (s *networksAPI) LBInspect(ctx context.Context, r *api.LBInspectRequest) (*api.LBInspectResponse, error) {
	s.n.mu.Lock()
	na, inSwarm := s.n.net, s.n.st != nil
	s.n.mu.Unlock()
	if na == nil {
		if !inSwarm {
			return nil, errdefs.FailedPrecondition("This node is not part of a swarm")
		}
		return nil, errdefs.FailedPrecondition("This node runs without overlay networking (the fake executor)")
	}
	infos, err := na.Inspect(ctx)
	if err != nil && infos == nil {
		return nil, err
	}
	resp := &api.LBInspectResponse{}
	resp.Backend, resp.BackendReason = na.Backend()
	if db := na.Gossip(); db != nil {
		for _, m := range db.Members() {
			resp.GossipMembers = append(resp.GossipMembers, m.Name+" "+m.Addr)
		}
	}
	for _, in := range infos {
		if r.GetNetwork() != "" && in.Name != r.GetNetwork() && !strings.HasPrefix(in.ID, r.GetNetwork()) {
			continue
		}
		resp.Networks = append(resp.Networks, lbNetwork(in))
	}
	if r.GetNetwork() != "" && len(resp.Networks) == 0 {
		return nil, errdefs.NotFound("network %s has no lb namespace on this node (no task of it runs here)", r.GetNetwork())
	}
	return resp, nil
}

func lbNetwork(in netdriver.NetworkInfo) *api.LBNetwork {
	out := &api.LBNetwork{Id: in.ID, Name: in.Name, Subnet: in.Subnet.String(), Vni: in.VNI, Sandbox: in.Sandbox,
		LbNetns: in.LBNetns, LbAddr: in.LBAddr.String(), Backend: in.Backend, Endpoints: in.Endpoints, Error: in.ServicesErrors}
	for _, v := range in.VIPs {
		out.Vips = append(out.Vips, v.String())
	}
	for _, s := range in.Services {
		ls := &api.LBService{Vip: s.VIP.String(), Fwmark: s.Mark}
		for _, b := range s.Backends {
			ls.Backends = append(ls.Backends, b.String())
		}
		for _, b := range s.Draining {
			ls.Draining = append(ls.Draining, b.String())
		}
		lbConns(ls, s, in.Conns)
		out.Services = append(out.Services, ls)
	}
	for _, p := range in.Peers {
		lp := &api.LBPeer{Addr: p.Addr.String(), Vtep: p.VTEP.String()}
		if p.MAC != nil {
			lp.Mac = p.MAC.String()
		}
		out.Peers = append(out.Peers, lp)
	}
	out.Ingress = lbIngress(in.Ingress)
	return out
}

// ListLocalNetworks reports the node's scope-local networks: the gateway
// bridge when this node has made it, "host" (the node's own stack, for
// `--network host`) and "none". Docker's "bridge" is not listed: minsw runs
// no standalone containers, so nothing could attach to it.
func (s *networksAPI) ListLocalNetworks(ctx context.Context, _ *api.ListLocalNetworksRequest) (*api.ListLocalNetworksResponse, error) {
	s.n.mu.Lock()
	var nodeID string
	if s.n.st != nil {
		nodeID = s.n.st.NodeID
	}
	na := s.n.net
	s.n.mu.Unlock()
	var underlay string
	var eps []netagent.EgressEndpoint
	if na != nil {
		underlay, eps = na.UnderlayNetns(), na.EgressEndpoints()
	}
	return &api.ListLocalNetworksResponse{Networks: localNetworks(nodeID, underlay, eps)}, nil
}

// InspectLocalNetwork answers `network inspect` on a node that has no
// manager API: from what its session delivered (the network, this node, its
// tasks) and its gossip view of the peers.
func (s *networksAPI) InspectLocalNetwork(ctx context.Context, r *api.InspectLocalNetworkRequest) (*api.InspectLocalNetworkResponse, error) {
	s.n.mu.Lock()
	a, na := s.n.agent, s.n.net
	s.n.mu.Unlock()
	if a == nil {
		return nil, errdefs.FailedPrecondition("This node is not part of a swarm")
	}
	ref := r.GetRef()
	var match []*api.Network
	for _, n := range a.Networks() {
		switch {
		case n.GetId() == ref || n.GetSpec().GetName() == ref:
			match = []*api.Network{n}
		case strings.HasPrefix(n.GetId(), ref):
			match = append(match, n)
		default:
			continue
		}
		if n.GetId() == ref || n.GetSpec().GetName() == ref {
			break
		}
	}
	switch len(match) {
	case 0:
		return nil, errdefs.NotFound("network %s not found", ref)
	case 1:
	default:
		return nil, errdefs.FailedPrecondition("network %s is ambiguous (%d matches found)", ref, len(match))
	}
	resp := &api.InspectLocalNetworkResponse{Network: match[0], Node: a.Node(), Tasks: a.Tasks()}
	if na != nil {
		if db := na.Gossip(); db != nil {
			resp.Peers = networkPeers(db.NetworkMembers(match[0].GetId()))
		}
	}
	return resp, nil
}
