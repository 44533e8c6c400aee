package netagent

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/minsw/minsw/netdriver"
	"github.com/minsw/minsw/netdriver/dns"
	"github.com/minsw/minsw/netdriver/lb"
	"github.com/minsw/minsw/worker/gossip"
)

// desired is what one overlay network must hold on this node, as the
// gossip endpoint table says: the remote endpoints to program as vxlan
// peers, the services of the lb namespace, and the names DNS answers.
type desired struct {
	peers    []netdriver.Peer
	services []lb.Service
	names    map[string]dns.Endpoint // by table key
	// conflicts counts services left out because their VIP or mark was
	// already taken by another service (a table caught mid-update).
	conflicts int
	// withdrawn are the keys of the draining task endpoints: once the
	// services and names above are applied, no new connection and no name
	// lookup on this node reaches them.
	withdrawn []string
}

// compute derives a network's desired state from its table entries alone.
// Every published endpoint is a running task (the publisher only publishes
// those) or a node's lb endpoint (no name, no service), so the backends of
// a service are exactly its endpoints on the network; a draining one (told
// to stop) stays a peer and a draining backend, but has no name. It is
// pure: the reconciler applies its result as diffs.
func compute(network string, eps []gossip.Endpoint, localVTEP netip.Addr) desired {
	eps = slices.Clone(eps)
	slices.SortFunc(eps, func(a, b gossip.Endpoint) int { return cmp.Compare(a.Key(), b.Key()) })
	d := desired{names: map[string]dns.Endpoint{}}

	peerByIP := map[netip.Addr]netdriver.Peer{}
	type svc struct {
		id       string
		vip      netip.Addr
		mark     uint32
		backends map[netip.Addr]bool // serving (true) or draining (false)
	}
	svcs := map[string]*svc{}
	for _, ep := range eps {
		if ep.NetworkID != network || !ep.IP.Is4() {
			continue
		}
		if ep.VTEP.IsValid() && ep.VTEP != localVTEP {
			peerByIP[ep.IP] = netdriver.Peer{Addr: ep.IP, MAC: ep.MAC, VTEP: ep.VTEP}
		}
		if ep.Draining {
			d.withdrawn = append(d.withdrawn, ep.Key())
		}
		if (ep.Name != "" || ep.ServiceName != "") && !ep.Draining {
			var names []string
			if ep.Name != "" {
				names = append(names, ep.Name)
			}
			if len(ep.ContainerID) >= 12 {
				names = append(names, ep.ContainerID[:12])
			}
			d.names[ep.Key()] = dns.Endpoint{Network: network, ID: ep.Key(), Names: names,
				Service: ep.ServiceName, ServiceAliases: ep.Aliases, VIP: ep.VIP, Addr: ep.IP}
		}
		sid := cmp.Or(ep.ServiceID, ep.ServiceName)
		if sid == "" || !ep.VIP.Is4() || ep.Mark == 0 {
			continue
		}
		s := svcs[sid]
		if s == nil {
			s = &svc{id: sid, vip: ep.VIP, mark: ep.Mark, backends: map[netip.Addr]bool{}}
			svcs[sid] = s
		}
		// One IP published twice (a stale entry beside a new one) serves
		// if either says so.
		s.backends[ep.IP] = s.backends[ep.IP] || !ep.Draining
	}
	for _, p := range peerByIP {
		d.peers = append(d.peers, p)
	}
	slices.SortFunc(d.peers, func(a, b netdriver.Peer) int { return a.Addr.Compare(b.Addr) })

	ids := make([]string, 0, len(svcs))
	for id := range svcs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	vipTaken, markTaken := map[netip.Addr]bool{}, map[uint32]bool{}
	for _, id := range ids {
		s := svcs[id]
		if vipTaken[s.vip] || markTaken[s.mark] {
			d.conflicts++
			continue
		}
		vipTaken[s.vip], markTaken[s.mark] = true, true
		out := lb.Service{VIP: s.vip, Mark: s.mark}
		for b, serving := range s.backends {
			if serving {
				out.Backends = append(out.Backends, b)
			} else {
				out.Draining = append(out.Draining, b)
			}
		}
		slices.SortFunc(out.Backends, netip.Addr.Compare)
		slices.SortFunc(out.Draining, netip.Addr.Compare)
		d.services = append(d.services, out)
	}
	slices.SortFunc(d.services, func(a, b lb.Service) int { return cmp.Compare(a.Mark, b.Mark) })
	return d
}

// diffNames is what turns the DNS entries cur into want: the entries to
// set (new or changed) and the keys to delete.
func diffNames(cur, want map[string]dns.Endpoint) (set []dns.Endpoint, del []string) {
	for k, w := range want {
		if c, ok := cur[k]; ok && sameName(c, w) {
			continue
		}
		set = append(set, w)
	}
	for k := range cur {
		if _, ok := want[k]; !ok {
			del = append(del, k)
		}
	}
	slices.SortFunc(set, func(a, b dns.Endpoint) int { return cmp.Compare(a.ID, b.ID) })
	slices.Sort(del)
	return set, del
}

func sameName(a, b dns.Endpoint) bool {
	return a.Network == b.Network && a.ID == b.ID && slices.Equal(a.Names, b.Names) &&
		a.Service == b.Service && a.VIP == b.VIP && a.Addr == b.Addr
}

// egressPool hands out gateway bridge addresses to this node's containers.
// A container's first choice is derived from its ID, so the same container
// tends to get the same address across restarts; collisions probe onwards.
// The network address, the bridge's gateway (.1) and the broadcast address
// are never given.
type egressPool struct {
	subnet netip.Prefix
	used   map[netip.Addr]string // address -> container ID
	byCtr  map[string]netip.Addr
}

func newEgressPool(subnet netip.Prefix) *egressPool {
	return &egressPool{subnet: subnet.Masked(), used: map[netip.Addr]string{}, byCtr: map[string]netip.Addr{}}
}

func (p *egressPool) size() uint32 { return uint32(1) << (32 - p.subnet.Bits()) }

func (p *egressPool) nth(i uint32) netip.Addr {
	b := p.subnet.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += i
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// get returns the container's address, allocating one if it has none; ok is
// false when the pool is full.
func (p *egressPool) get(containerID string) (netip.Prefix, bool) {
	if a, ok := p.byCtr[containerID]; ok {
		return netip.PrefixFrom(a, p.subnet.Bits()), true
	}
	n := p.size()
	if n < 4 {
		return netip.Prefix{}, false
	}
	// The lowest free address, as docker hands out docker_gwbridge's
	// (172.18.0.2 is the ingress sandbox's, so containers start at .3).
	usable := n - 3 // network, gateway, broadcast
	for i := range usable {
		a := p.nth(2 + i)
		if _, taken := p.used[a]; !taken {
			p.used[a], p.byCtr[containerID] = containerID, a
			return netip.PrefixFrom(a, p.subnet.Bits()), true
		}
	}
	return netip.Prefix{}, false
}

// reserve records an address a container already holds (found in its
// namespace after a restart); false if another container has it.
func (p *egressPool) reserve(containerID string, a netip.Addr) bool {
	if !p.subnet.Contains(a) || a == p.nth(0) || a == p.nth(1) || a == p.nth(p.size()-1) {
		return false
	}
	if owner, taken := p.used[a]; taken && owner != containerID {
		return false
	}
	p.release(containerID)
	p.used[a], p.byCtr[containerID] = containerID, a
	return true
}

func (p *egressPool) release(containerID string) {
	if a, ok := p.byCtr[containerID]; ok {
		delete(p.used, a)
		delete(p.byCtr, containerID)
	}
}
