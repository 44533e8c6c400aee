// Package allocator owns the cluster's address space on the leader: network
// subnets and VNIs, service VIPs and their firewall marks, task IPs and MACs,
// and each node's lb endpoint IP per network. Every allocation is stored in
// raft; the in-memory pools are rebuilt from the store when a manager becomes
// leader, so workers never invent an address. It does not schedule or start
// anything.
package allocator

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Allocator holds the leader's view of which addresses, VNIs and marks are
// taken. Its methods are safe for concurrent use by the API and the loop.
type Allocator struct {
	st  *store.Store
	log *slog.Logger

	mu    sync.Mutex
	pools map[string]*Pool // network ID -> pool, built on first use
	marks *Counter

	// unallocated are services whose allocation failed, with why; every
	// pass tries them again. Only the loop's goroutine touches it.
	unallocated map[string]string
}

// New returns an allocator over st; its state is read from st lazily.
func New(st *store.Store, log *slog.Logger) *Allocator {
	if log == nil {
		log = slog.Default()
	}
	a := &Allocator{st: st, log: log, pools: map[string]*Pool{}, unallocated: map[string]string{}}
	a.marks = NewCounter(FirstMark, LastMark)
	st.View(func(tx store.ReadTx) {
		for _, s := range tx.Services() {
			for _, v := range s.GetEndpoint().GetVirtualIps() {
				_ = a.marks.Reserve(v.GetFwmark())
			}
		}
	})
	return a
}

// PlanNetwork chooses the subnet, gateway and VNI of a new network as tx
// sees the store. A user subnet that overlaps an existing one is refused
// (Swarm accepts it; two networks routing the same addresses is a trap).
// No lock is held across the write: the store refuses a second network
// with the same VNI or an overlapping subnet (Conflict), and the writer
// plans again.
func PlanNetwork(tx store.ReadTx, spec *api.NetworkSpec) (subnet netip.Prefix, gw netip.Addr, vni uint32, err error) {
	var used []NamedSubnet
	vnis := NewCounter(FirstVNI, LastVNI)
	for _, n := range tx.Networks() {
		if p, err := netip.ParsePrefix(n.GetSubnet()); err == nil {
			used = append(used, NamedSubnet{Name: n.GetSpec().GetName(), Subnet: p})
		}
		_ = vnis.Reserve(n.GetVni())
	}
	if spec.GetSubnet() != "" {
		subnet, err = ParseSubnet(spec.GetSubnet())
		if err != nil {
			return
		}
		if u, clash := Overlap(subnet, used); clash {
			err = errdefs.FailedPrecondition("subnet %s overlaps with network %s (%s)", subnet, u.Name, u.Subnet)
			return
		}
	} else if subnet, err = NextSubnet(DefaultPool, DefaultSubnetBits, used); err != nil {
		return
	}
	gw = FirstHost(subnet)
	if spec.GetGateway() != "" {
		if gw, err = netip.ParseAddr(spec.GetGateway()); err != nil || !gw.Is4() {
			err = errdefs.InvalidArgument("invalid gateway %q", spec.GetGateway())
			return
		}
		if !subnet.Contains(gw) || gw == subnet.Addr() {
			err = errdefs.InvalidArgument("gateway %s is not a host address of subnet %s", gw, subnet)
			return
		}
	}
	vni, err = vnis.Allocate()
	return
}

// pool returns the network's pool, building it from the store on first use.
// a.mu must be held.
func (a *Allocator) pool(tx store.ReadTx, netID string) (*Pool, error) {
	if p, ok := a.pools[netID]; ok {
		return p, nil
	}
	n := tx.Network(netID)
	if n == nil {
		return nil, errdefs.NotFound("network %s not found", netID)
	}
	subnet, err := netip.ParsePrefix(n.GetSubnet())
	if err != nil {
		return nil, errdefs.FailedPrecondition("network %s has no valid subnet: %v", n.GetSpec().GetName(), err)
	}
	p, err := NewPool(subnet)
	if err != nil {
		return nil, err
	}
	reserve := func(cidr string) {
		if pf, err := netip.ParsePrefix(cidr); err == nil {
			_ = p.Reserve(pf.Addr())
		}
	}
	if gw, err := netip.ParseAddr(n.GetGateway()); err == nil {
		_ = p.Reserve(gw)
	}
	for _, s := range tx.Services() {
		for _, v := range s.GetEndpoint().GetVirtualIps() {
			if v.GetNetworkId() == netID {
				reserve(v.GetAddr())
			}
		}
	}
	for _, t := range tx.Tasks() {
		for _, na := range t.GetNetworks() {
			if na.GetNetworkId() == netID {
				for _, addr := range na.GetAddresses() {
					reserve(addr)
				}
			}
		}
	}
	for _, nd := range tx.Nodes() {
		for _, na := range nd.GetLbAttachments() {
			if na.GetNetworkId() == netID {
				for _, addr := range na.GetAddresses() {
					reserve(addr)
				}
			}
		}
	}
	a.pools[netID] = p
	return p, nil
}

func (a *Allocator) allocateAttachment(tx store.ReadTx, netID string, aliases []string) (*api.NetworkAttachment, error) {
	p, err := a.pool(tx, netID)
	if err != nil {
		return nil, err
	}
	ip, err := p.Allocate()
	if err != nil {
		return nil, err
	}
	return &api.NetworkAttachment{
		NetworkId:  netID,
		Addresses:  []string{netip.PrefixFrom(ip, p.Subnet().Bits()).String()},
		MacAddress: MACFromIP(ip),
		Aliases:    aliases,
		EndpointId: NewEndpointID(),
	}, nil
}

// NewEndpointID is a docker-style endpoint ID: 64 random hex digits.
func NewEndpointID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ReleaseAttachments frees the addresses of attachments.
func (a *Allocator) ReleaseAttachments(atts []*api.NetworkAttachment) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.releaseLocked(atts)
}

func (a *Allocator) releaseLocked(atts []*api.NetworkAttachment) {
	for _, na := range atts {
		p, ok := a.pools[na.GetNetworkId()]
		if !ok {
			continue
		}
		for _, addr := range na.GetAddresses() {
			if pf, err := netip.ParsePrefix(addr); err == nil {
				p.Release(pf.Addr())
			}
		}
	}
}

// allocateVIPs gives svc a VIP and a mark on each network it attaches to,
// keeping those it already has on networks it still uses. On error nothing
// stays allocated. It returns a release func that undoes this call (for
// when the store write fails for certain).
func (a *Allocator) allocateVIPs(tx store.ReadTx, svc *api.Service) (undo func(), err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	nets := vipNetworks(tx, svc)
	want := map[string]bool{}
	for _, id := range nets {
		want[id] = true
	}
	if svc.Endpoint == nil {
		svc.Endpoint = &api.Endpoint{}
	}
	svc.Endpoint.Spec = svc.GetSpec().GetEndpoint()
	var kept, added []*api.VirtualIP
	have := map[string]bool{}
	for _, v := range svc.Endpoint.GetVirtualIps() {
		if want[v.GetNetworkId()] && !have[v.GetNetworkId()] {
			kept = append(kept, v)
			have[v.GetNetworkId()] = true
		}
	}
	undoAdded := func() {
		for _, v := range added {
			a.releaseVIPLocked(v)
		}
	}
	for _, id := range nets {
		if have[id] {
			continue
		}
		have[id] = true
		att, err := a.allocateAttachment(tx, id, nil)
		if err != nil {
			undoAdded()
			return nil, err
		}
		mark, err := a.marks.Allocate()
		if err != nil {
			a.releaseLocked([]*api.NetworkAttachment{att})
			undoAdded()
			return nil, err
		}
		added = append(added, &api.VirtualIP{NetworkId: id, Addr: att.Addresses[0], Fwmark: mark})
	}
	// VIPs on networks the service left are released once the write has
	// landed: ReleaseVIPs(DroppedVIPs(old, svc)).
	svc.Endpoint.VirtualIps = append(kept, added...)
	return func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		undoAdded()
	}, nil
}

// vipNetworks lists the networks a service needs a VIP on: those it
// attaches to, and ingress when it publishes a port through the mesh.
func vipNetworks(tx store.ReadTx, svc *api.Service) []string {
	if svc.GetSpec().GetEndpoint().GetMode() == api.EndpointMode_ENDPOINT_MODE_DNSRR {
		return nil // no VIP: the name resolves to the task addresses (issue 15)
	}
	var ids []string
	for _, n := range svc.GetSpec().GetTask().GetNetworks() {
		if n.GetTarget() == api.HostNetwork {
			continue // the node's own stack: no VIP
		}
		ids = append(ids, n.GetTarget())
	}
	if UsesIngress(svc.GetSpec().GetEndpoint().GetPorts()) {
		if in := IngressNetwork(tx); in != nil {
			ids = append([]string{in.GetId()}, ids...)
		}
	}
	return ids
}

// ReleaseVIPs frees VIPs and marks (after the service is gone or no longer
// attached to their networks).
func (a *Allocator) ReleaseVIPs(vips []*api.VirtualIP) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, v := range vips {
		a.releaseVIPLocked(v)
	}
}

func (a *Allocator) releaseVIPLocked(v *api.VirtualIP) {
	a.releaseLocked([]*api.NetworkAttachment{{NetworkId: v.GetNetworkId(), Addresses: []string{v.GetAddr()}}})
	a.marks.Release(v.GetFwmark())
}

// DroppedVIPs returns the VIPs of old that updated no longer has.
func DroppedVIPs(old, updated *api.Service) []*api.VirtualIP {
	keep := map[string]bool{}
	for _, v := range updated.GetEndpoint().GetVirtualIps() {
		keep[v.GetAddr()+"/"+v.GetNetworkId()] = true
	}
	var out []*api.VirtualIP
	for _, v := range old.GetEndpoint().GetVirtualIps() {
		if !keep[v.GetAddr()+"/"+v.GetNetworkId()] {
			out = append(out, v)
		}
	}
	return out
}

// ForgetNetwork drops a removed network's pool.
func (a *Allocator) ForgetNetwork(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.pools, id)
}

// allocateTask fills a NEW task's attachments and moves it to PENDING. A
// task whose network is gone is rejected with the reason.
func (a *Allocator) allocateTask(tx store.ReadTx, t *api.Task) (*api.Task, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	nt := proto.Clone(t).(*api.Task)
	var atts []*api.NetworkAttachment
	targets := t.GetSpec().GetNetworks()
	if s := tx.Service(t.GetServiceId()); s != nil && UsesIngress(s.GetSpec().GetEndpoint().GetPorts()) {
		if in := IngressNetwork(tx); in != nil {
			targets = append([]*api.NetworkAttachmentConfig{{Target: in.GetId()}}, targets...)
		}
	}
	for _, n := range targets {
		if n.GetTarget() == api.HostNetwork {
			continue // the node's own stack: no address to hand out
		}
		att, err := a.allocateAttachment(tx, n.GetTarget(), n.GetAliases())
		if err != nil {
			a.releaseLocked(atts)
			if errdefs.Is(err, errdefs.KindNotFound) {
				nt.Status = &api.TaskStatus{State: api.TaskState_TASK_STATE_REJECTED, Message: "allocation failed", Err: err.Error()}
				return nt, nil
			}
			return nil, err
		}
		atts = append(atts, att)
	}
	nt.Networks = atts
	if s := tx.Service(t.GetServiceId()); s != nil {
		nt.Endpoint = s.GetEndpoint()
	}
	nt.Status = &api.TaskStatus{State: api.TaskState_TASK_STATE_PENDING, Message: "pending task scheduling"}
	return nt, nil
}

// lbAttachments returns node n's lb attachments extended to cover netIDs,
// or nil when it already has them all.
func (a *Allocator) lbAttachments(tx store.ReadTx, n *api.Node, netIDs []string) ([]*api.NetworkAttachment, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	have := map[string]bool{}
	for _, na := range n.GetLbAttachments() {
		have[na.GetNetworkId()] = true
	}
	var added []*api.NetworkAttachment
	for _, id := range netIDs {
		if have[id] {
			continue
		}
		have[id] = true
		att, err := a.allocateAttachment(tx, id, nil)
		if err != nil {
			a.releaseLocked(added)
			return nil, err
		}
		added = append(added, att)
	}
	if len(added) == 0 {
		return nil, nil
	}
	return append(append([]*api.NetworkAttachment(nil), n.GetLbAttachments()...), added...), nil
}
