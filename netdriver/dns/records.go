package dns

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
)

// Scope is what a container can see: the IDs of the networks it is attached
// to. A swarm name resolves only through one of these networks.
type Scope struct {
	Networks []string
	// Upstreams are the container's own resolvers (docker's --dns): names
	// outside the swarm go to them, asked from inside the container's
	// namespace as the container itself would reach them (over its overlay
	// or its gateway bridge). Empty: the server's upstreams, the node's,
	// asked from the daemon's namespace.
	Upstreams []netip.AddrPort
}

// Resolver is the source of swarm names the server answers from. The agent
// owns the data (it feeds it from the gossip endpoint table); the server only
// reads. Implementations must be safe for concurrent use and fast: they sit on
// the per-query path.
type Resolver interface {
	// LookupHost returns the IPv4 addresses name (lower case, no trailing dot)
	// has on the networks in scope. known reports whether name is a swarm name
	// on any network at all, so a name that exists only outside the scope is
	// answered NXDOMAIN instead of being forwarded to upstream resolvers. The
	// returned slice must not be modified.
	LookupHost(name string, scope Scope) (addrs []netip.Addr, known bool)
	// LookupAddr returns the swarm names (no trailing dot) that addr has on the
	// networks in scope, for PTR queries.
	LookupAddr(addr netip.Addr, scope Scope) []string
}

// Endpoint is one container's (or one service's) presence on one network, as
// DNS serves it.
type Endpoint struct {
	// Network is the network ID.
	Network string
	// ID identifies the endpoint within Network (task or container ID); Set
	// replaces and Delete removes by (Network, ID).
	ID string
	// Names resolve to Addr: the container name, the task name
	// (<service>.<slot>.<taskid>) and any aliases.
	Names []string
	// Service is the service name, "" for a plain container. The endpoint's
	// Addr is then listed under tasks.<Service>.
	Service string
	// ServiceAliases are the service's other names on Network (a stack's
	// short service names, --network alias=...): each resolves as Service
	// does, to the VIP (or the task addresses under dnsrr), with
	// tasks.<alias> beside it.
	ServiceAliases []string
	// VIP is the service's virtual IP on Network: <Service> resolves to it.
	// When VIP is not valid (endpoint mode dnsrr), <Service> resolves to the
	// task addresses instead, as tasks.<Service> does.
	VIP netip.Addr
	// Addr is the endpoint's own IP on Network. It may be invalid for an
	// endpoint that only announces a service's VIP.
	Addr netip.Addr
}

// Table is the in-memory Resolver the agent fills with Set and Delete.
// Lookups take a read lock and return precomputed slices, so the query path
// does not allocate.
type Table struct {
	mu    sync.RWMutex
	eps   map[epKey]Endpoint
	names map[string]*nameRecord // lower-case name -> per-network addresses
	addrs map[netip.Addr]map[string]*ptrRecord
}

type epKey struct{ network, id string }

type nameRecord struct {
	byNet map[string]*addrSet
}

// addrSet counts references so that several endpoints may announce the same
// address (every task of a service carries the service VIP).
type addrSet struct {
	refs map[netip.Addr]int
	list []netip.Addr // sorted keys of refs, rebuilt on change
}

type ptrRecord struct {
	refs map[string]int
	list []string
}

// NewTable returns an empty Table.
func NewTable() *Table {
	return &Table{
		eps:   make(map[epKey]Endpoint),
		names: make(map[string]*nameRecord),
		addrs: make(map[netip.Addr]map[string]*ptrRecord),
	}
}

// Set adds ep, replacing any endpoint with the same Network and ID.
func (t *Table) Set(ep Endpoint) {
	ep.Names = slices.Clone(ep.Names)
	t.mu.Lock()
	defer t.mu.Unlock()
	k := epKey{ep.Network, ep.ID}
	if old, ok := t.eps[k]; ok {
		t.apply(old, -1)
	}
	t.eps[k] = ep
	t.apply(ep, +1)
}

// Delete removes the endpoint (network, id); it is a no-op when absent.
func (t *Table) Delete(network, id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := epKey{network, id}
	if old, ok := t.eps[k]; ok {
		t.apply(old, -1)
		delete(t.eps, k)
	}
}

// Len reports how many endpoints the table holds.
func (t *Table) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.eps)
}

// apply adds (d=+1) or removes (d=-1) every name and PTR record ep implies.
func (t *Table) apply(ep Endpoint, d int) {
	if ep.Addr.IsValid() {
		for _, n := range ep.Names {
			t.name(canonical(n), ep.Network, ep.Addr, d)
			t.ptr(ep.Addr, ep.Network, trimDot(n), d)
		}
	}
	if ep.Service == "" {
		return
	}
	if ep.VIP.IsValid() {
		t.ptr(ep.VIP, ep.Network, trimDot(ep.Service), d)
	}
	for _, name := range append([]string{ep.Service}, ep.ServiceAliases...) {
		svc := canonical(name)
		if ep.Addr.IsValid() {
			t.name("tasks."+svc, ep.Network, ep.Addr, d)
		}
		switch {
		case ep.VIP.IsValid():
			t.name(svc, ep.Network, ep.VIP, d)
		case ep.Addr.IsValid():
			t.name(svc, ep.Network, ep.Addr, d)
		}
	}
}

func (t *Table) name(name, network string, addr netip.Addr, d int) {
	if name == "" || !addr.IsValid() {
		return
	}
	nr := t.names[name]
	if nr == nil {
		if d < 0 {
			return
		}
		nr = &nameRecord{byNet: make(map[string]*addrSet)}
		t.names[name] = nr
	}
	as := nr.byNet[network]
	if as == nil {
		if d < 0 {
			return
		}
		as = &addrSet{refs: make(map[netip.Addr]int)}
		nr.byNet[network] = as
	}
	n := as.refs[addr] + d
	if n > 0 {
		if as.refs[addr] == 0 {
			as.refs[addr] = n
			as.rebuild()
		} else {
			as.refs[addr] = n
		}
		return
	}
	if _, had := as.refs[addr]; had {
		delete(as.refs, addr)
		as.rebuild()
	}
	if len(as.refs) == 0 {
		delete(nr.byNet, network)
	}
	if len(nr.byNet) == 0 {
		delete(t.names, name)
	}
}

func (as *addrSet) rebuild() {
	// A fresh slice each time: readers may still hold the old one.
	l := make([]netip.Addr, 0, len(as.refs))
	for a := range as.refs {
		l = append(l, a)
	}
	slices.SortFunc(l, netip.Addr.Compare)
	as.list = l
}

func (t *Table) ptr(addr netip.Addr, network, name string, d int) {
	if name == "" {
		return
	}
	byNet := t.addrs[addr]
	if byNet == nil {
		if d < 0 {
			return
		}
		byNet = make(map[string]*ptrRecord)
		t.addrs[addr] = byNet
	}
	pr := byNet[network]
	if pr == nil {
		if d < 0 {
			return
		}
		pr = &ptrRecord{refs: make(map[string]int)}
		byNet[network] = pr
	}
	n := pr.refs[name] + d
	if n > 0 {
		fresh := pr.refs[name] == 0
		pr.refs[name] = n
		if fresh {
			pr.rebuild()
		}
		return
	}
	if _, had := pr.refs[name]; had {
		delete(pr.refs, name)
		pr.rebuild()
	}
	if len(pr.refs) == 0 {
		delete(byNet, network)
	}
	if len(byNet) == 0 {
		delete(t.addrs, addr)
	}
}

func (pr *ptrRecord) rebuild() {
	l := make([]string, 0, len(pr.refs))
	for n := range pr.refs {
		l = append(l, n)
	}
	slices.Sort(l)
	pr.list = l
}

// LookupHost implements Resolver.
func (t *Table) LookupHost(name string, scope Scope) ([]netip.Addr, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	nr := t.names[name]
	if nr == nil {
		return nil, false
	}
	var out []netip.Addr
	for _, n := range scope.Networks {
		as := nr.byNet[n]
		if as == nil {
			continue
		}
		if out == nil {
			out = as.list // common case: one network, no copy
			continue
		}
		merged := slices.Clone(out)
		for _, a := range as.list {
			if !slices.Contains(merged, a) {
				merged = append(merged, a)
			}
		}
		out = merged
	}
	return out, true
}

// LookupAddr implements Resolver.
func (t *Table) LookupAddr(addr netip.Addr, scope Scope) []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	byNet := t.addrs[addr]
	if byNet == nil {
		return nil
	}
	var out []string
	for _, n := range scope.Networks {
		if pr := byNet[n]; pr != nil {
			for _, name := range pr.list {
				if !slices.Contains(out, name) {
					out = append(out, name)
				}
			}
		}
	}
	return out
}

// canonical is the form names are stored and looked up in: lower case, no
// trailing dot.
func canonical(name string) string { return strings.ToLower(trimDot(name)) }

func trimDot(name string) string { return strings.TrimSuffix(name, ".") }
