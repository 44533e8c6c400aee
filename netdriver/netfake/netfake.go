// Package netfake is an in-memory netdriver for unit tests of the code
// above it (the worker's netagent): it accepts the calls the real driver
// does, checks them as the driver does, and keeps what they asked for,
// each network's load balancer in an lbfake.Backend, so a test reads back
// the peers, services and endpoints a node would have programmed, without
// root or a kernel.
package netfake

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"sync"

	"github.com/minsw/minsw/netdriver"
	"github.com/minsw/minsw/netdriver/ingress"
	"github.com/minsw/minsw/netdriver/lb"
	"github.com/minsw/minsw/netdriver/lb/lbfake"
)

// Driver is a node's fake netdriver.
type Driver struct {
	dir string

	mu        sync.Mutex
	nets      map[string]*network
	egress    map[string]netip.Prefix // container ID -> gateway-bridge address
	marks     []ingress.PortMark
	host      []ingress.Publish
	redirects map[string][]ingress.Redirect // netns path -> redirects
	closed    bool
}

type network struct {
	net       netdriver.Network
	lb        *lbfake.Backend
	svcs      map[uint32]lb.Service
	peers     []netdriver.Peer
	endpoints map[string]netdriver.Endpoint // container ID ->
}

// New returns a driver whose namespaces would live under dir.
func New(dir string) *Driver {
	return &Driver{dir: dir, nets: map[string]*network{}, egress: map[string]netip.Prefix{}, redirects: map[string][]ingress.Redirect{}}
}

func (d *Driver) Backend() (name, reason string) { return "fake", "a unit test's fake driver" }
func (d *Driver) NetnsDir() string               { return d.dir }

// IngressSboxAddr is ingress_sbox's address on the gateway bridge, as the
// real driver's default.
func (d *Driver) IngressSboxAddr() netip.Prefix { return netip.MustParsePrefix("172.18.0.2/16") }

func (d *Driver) ensure(n netdriver.Network) error {
	if err := n.Validate(); err != nil {
		return fmt.Errorf("netfake: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("netfake: driver closed")
	}
	if cur, ok := d.nets[n.ID]; ok {
		cur.net = n
		return nil
	}
	d.nets[n.ID] = &network{net: n, lb: lbfake.New(), svcs: map[uint32]lb.Service{}, endpoints: map[string]netdriver.Endpoint{}}
	return nil
}

func (d *Driver) EnsureNetwork(ctx context.Context, n netdriver.Network) error {
	if n.Ingress {
		return fmt.Errorf("netfake: %w: network %s is the routing mesh: use EnsureIngress", netdriver.ErrInvalid, n.ID)
	}
	return d.ensure(n)
}

func (d *Driver) EnsureIngress(ctx context.Context, n netdriver.Network) error {
	n.Ingress = true
	return d.ensure(n)
}

func (d *Driver) RemoveNetwork(ctx context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n, ok := d.nets[id]; ok {
		_ = n.lb.Close()
		delete(d.nets, id)
	}
	return nil
}

func (d *Driver) RemoveIngress(ctx context.Context, id string) error {
	d.mu.Lock()
	d.marks, d.host = nil, nil
	d.mu.Unlock()
	return d.RemoveNetwork(ctx, id)
}

// Reconcile keeps the networks in want and removes the others, as the
// real driver does with what a previous run left.
func (d *Driver) Reconcile(ctx context.Context, want []netdriver.Network) error {
	keep := map[string]bool{}
	for _, n := range want {
		keep[n.ID] = true
		if err := d.ensure(n); err != nil {
			return err
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, n := range d.nets {
		if !keep[id] {
			_ = n.lb.Close()
			delete(d.nets, id)
		}
	}
	return nil
}

func (d *Driver) get(id string) (*network, error) {
	n, ok := d.nets[id]
	if !ok {
		return nil, fmt.Errorf("netfake: %w: network %s", netdriver.ErrNotFound, id)
	}
	return n, nil
}

func (d *Driver) Attach(ctx context.Context, ep netdriver.Endpoint) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, err := d.get(ep.NetworkID)
	if err != nil {
		return err
	}
	if !n.net.Subnet.Contains(ep.Addr.Addr()) {
		return fmt.Errorf("netfake: %w: endpoint %v outside %v", netdriver.ErrInvalid, ep.Addr, n.net.Subnet)
	}
	n.endpoints[ep.ContainerID] = ep
	return nil
}

func (d *Driver) Detach(ctx context.Context, networkID, containerID string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n, ok := d.nets[networkID]; ok {
		delete(n.endpoints, containerID)
	}
	return nil
}

func (d *Driver) SetPeers(ctx context.Context, networkID string, peers []netdriver.Peer) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, err := d.get(networkID)
	if err != nil {
		return err
	}
	n.peers = slices.Clone(peers)
	return nil
}

// SetServices checks and applies svcs to the network's fake lb as the
// real driver does: only what changed reaches the backend.
func (d *Driver) SetServices(ctx context.Context, networkID string, svcs []lb.Service) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, err := d.get(networkID)
	if err != nil {
		return err
	}
	for _, s := range svcs {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("netfake: %w: %w", netdriver.ErrInvalid, err)
		}
		if !n.net.Subnet.Contains(s.VIP) {
			return fmt.Errorf("netfake: %w: VIP %v outside network %s (%v)", netdriver.ErrInvalid, s.VIP, networkID, n.net.Subnet)
		}
	}
	set, del := netdriver.DiffServices(n.svcs, svcs)
	if len(set) == 0 && len(del) == 0 {
		return nil
	}
	if err := n.lb.Apply(set, del); err != nil {
		return fmt.Errorf("netfake: network %s: %w", networkID, err)
	}
	for _, m := range del {
		delete(n.svcs, m)
	}
	for _, s := range set {
		n.svcs[s.Mark] = s
	}
	return nil
}

func (d *Driver) AttachEgress(ctx context.Context, ep netdriver.EgressEndpoint) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.egress[ep.ContainerID] = ep.Addr
	return nil
}

func (d *Driver) DetachEgress(ctx context.Context, containerID string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.egress, containerID)
	return nil
}

func (d *Driver) SetPublished(ctx context.Context, marks []ingress.PortMark, host []ingress.Publish) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.marks, d.host = slices.Clone(marks), slices.Clone(host)
	return nil
}

func (d *Driver) SetTaskRedirects(ctx context.Context, nsPath string, addr netip.Addr, rs []ingress.Redirect) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.redirects[nsPath] = slices.Clone(rs)
	return nil
}

// Inspect returns the networks as the driver holds them.
func (d *Driver) Inspect(ctx context.Context) ([]netdriver.NetworkInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []netdriver.NetworkInfo
	for _, n := range d.nets {
		svcs, _ := n.lb.Services()
		info := netdriver.NetworkInfo{ID: n.net.ID, Name: n.net.Name, Subnet: n.net.Subnet, VNI: n.net.VNI, LBAddr: n.net.LBAddr,
			Backend: "fake", Services: svcs, Peers: slices.Clone(n.peers)}
		for cid := range n.endpoints {
			info.Endpoints = append(info.Endpoints, cid)
		}
		sort.Strings(info.Endpoints)
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, n := range d.nets {
		_ = n.lb.Close()
		delete(d.nets, id)
	}
	d.closed = true
	return nil
}

// Services is what the network's fake lb holds, sorted by mark (nil when
// the node does not have the network).
func (d *Driver) Services(networkID string) []lb.Service {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.nets[networkID]
	if !ok {
		return nil
	}
	svcs, _ := n.lb.Services()
	return svcs
}

// Peers is what SetPeers last gave the network.
func (d *Driver) Peers(networkID string) []netdriver.Peer {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n, ok := d.nets[networkID]; ok {
		return slices.Clone(n.peers)
	}
	return nil
}

// HasNetwork reports whether the node holds the network.
func (d *Driver) HasNetwork(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.nets[id]
	return ok
}

// Egress is the container's gateway-bridge address, if it has one.
func (d *Driver) Egress(containerID string) (netip.Prefix, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.egress[containerID]
	return p, ok
}
