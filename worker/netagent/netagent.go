// Package netagent makes a node's tasks networked: it is the worker agent's
// Network (a namespace per task container, attached to the task's overlays,
// with an egress leg and the embedded DNS), it publishes the node's running
// endpoints in the gossip endpoint table, and it keeps the node's overlay
// peers, lb services and DNS names equal to what that table says. It
// decides nothing about addresses (the leader's allocator does) and builds
// no kernel object itself: the netdriver does, and netdriver/dns answers.
package netagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/minsw/minsw/netdriver"
	"github.com/minsw/minsw/netdriver/dns"
	"github.com/minsw/minsw/netdriver/gwbridge"
	"github.com/minsw/minsw/netdriver/lb"
	"github.com/minsw/minsw/netdriver/lb/ipvs"
	"github.com/minsw/minsw/netdriver/netns"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/agent"
	"github.com/minsw/minsw/worker/gossip"
)

// DefaultGossipPort is Swarm's memberlist port.
const DefaultGossipPort = 7946

// View is what the netagent reads of the worker agent's session: the node
// object (its lb endpoint addresses), the tasks with their latest status
// (only running tasks are published as backends), the networks they use
// and the gossip keys. *agent.Agent implements it.
type View interface {
	Node() *api.Node
	Networks() []*api.Network
	Tasks() []*api.Task
	GossipKeys() [][]byte
	Changed() <-chan struct{}
}

// Config is one node's task networking. NodeID, ExecRoot and VTEP are
// required; DefaultConfig fills the rest.
type Config struct {
	NodeID   string
	ExecRoot string
	// VTEP is the node's underlay (advertise) address.
	VTEP netip.Addr
	// UnderlayNetns is the namespace of the node's underlay (vxlan sockets,
	// gateway bridge); "" is the caller's. Tests run nodes as namespaces.
	UnderlayNetns string
	// LBBackend is "ipvs", "nftables", or "auto"/"" (ipvs where the kernel
	// has it, else nftables).
	LBBackend string
	// HasIPVS overrides the kernel probe (tests).
	HasIPVS func() bool
	// Gossip is memberlist's setting; NodeName defaults to NodeID, BindAddr
	// to VTEP and BindPort to DefaultGossipPort. The keyring comes from the
	// session (View.GossipKeys).
	Gossip gossip.Config
	// Peers lists the gossip addresses (host:port) to join, read at start
	// and again every JoinInterval while one of them is not a member.
	Peers        func() []string
	JoinInterval time.Duration
	// DNSUpstreams receive the names outside the swarm; nil reads
	// ResolvConf.
	DNSUpstreams []netip.AddrPort
	ResolvConf   string
	// Egress is the gateway bridge subnet (172.18.0.0/16 when zero).
	Egress netip.Prefix
	// LBAddrWait bounds how long Prepare waits for the leader to allocate
	// the node's lb endpoint on a network.
	LBAddrWait time.Duration
	// WithdrawTimeout bounds how long a stopping task's container waits,
	// once its endpoints drain, for every node's lb to confirm it gives
	// them no new connection before the stop signal (gossip spreads in
	// rounds of 100 ms; a node that does not answer is one that is dying).
	WithdrawTimeout time.Duration
	// Coalesce is how long the reconciler lets table events gather before
	// it programs a network.
	Coalesce time.Duration
	// RetryDelay is the wait before programming a network again after a
	// failure.
	RetryDelay time.Duration
	Logger     *slog.Logger

	// Dataplane, Sandboxes and Resolver replace the kernel (the netdriver,
	// netns, the embedded DNS server) in unit tests; nil means the real
	// ones.
	Dataplane Dataplane
	Sandboxes Sandboxes
	Resolver  Resolver
}

// DefaultConfig is the daemon's setting; set NodeID, ExecRoot and VTEP.
func DefaultConfig() Config {
	return Config{
		Gossip:          gossip.DefaultConfig(""),
		JoinInterval:    5 * time.Second,
		ResolvConf:      "/etc/resolv.conf",
		Egress:          gwbridge.DefaultSubnet,
		LBAddrWait:      30 * time.Second,
		WithdrawTimeout: 3 * time.Second,
		Coalesce:        10 * time.Millisecond,
		RetryDelay:      time.Second,
	}
}

// Validate reports the first unusable field.
func (c *Config) Validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("netagent: no node ID")
	case !filepath.IsAbs(c.ExecRoot):
		return fmt.Errorf("netagent: exec root %q must be an absolute path", c.ExecRoot)
	case !c.VTEP.Is4():
		return fmt.Errorf("netagent: VTEP %v must be an IPv4 address", c.VTEP)
	case !c.Egress.IsValid() || !c.Egress.Addr().Is4() || c.Egress.Bits() > 30:
		return fmt.Errorf("netagent: egress subnet %v", c.Egress)
	case c.LBAddrWait <= 0 || c.JoinInterval <= 0 || c.Coalesce < 0 || c.RetryDelay <= 0:
		return errors.New("netagent: waits and intervals must be positive")
	}
	if err := netdriver.CheckBackendChoice(c.LBBackend); err != nil {
		return fmt.Errorf("netagent: %w", err)
	}
	return nil
}

// Agent is one node's task networking for one swarm membership. Create it
// with New, hand it to the worker agent as its Network, and call Run with
// the worker agent as View.
type Agent struct {
	cfg   Config
	log   *slog.Logger
	drv   Dataplane
	sbx   Sandboxes
	table *dns.Table
	dns   Resolver
	dir   string

	ready   chan struct{} // closed once Run has gossip going
	stopped chan struct{} // closed when Run returns
	view    View
	db      *gossip.DB
	runOnce sync.Once
	wakeRec chan struct{}
	wakePub chan struct{}
	// wakeIngress asks Run to try joining the routing mesh again.
	wakeIngress chan struct{}
	dnsOnce     sync.Once

	// kmu serialises what changes the kernel or the table: Prepare,
	// Release, publishing and reconciling.
	kmu    sync.Mutex
	tasks  map[string]*localTask
	nets   map[string]*localNet
	egress *egressPool
	// ingressID is the routing mesh's network once this node joined it.
	ingressID string

	dmu   sync.Mutex
	dirty map[string]bool

	// eview is the gateway bridge's endpoints for readers (kmu's holders
	// keep it current: egress_endpoints.go).
	eview egressView
}

// localTask is a task whose container namespace this node made.
type localTask struct {
	id, cid, netns string
	eps            []gossip.Endpoint // one per network, as published
	egress         netip.Prefix
	published      bool
	// draining: its published endpoints say so (withdraw.go).
	draining bool
	// withdrawn is set once the task is told to stop: it is never
	// published again (withdraw.go).
	withdrawn bool
	// host are the task's host-mode ports, published on this node only
	// while the task runs.
	host []*api.PortConfig
}

// localNet is an overlay network that has a task on this node.
type localNet struct {
	net   netdriver.Network
	lbEP  gossip.Endpoint
	names map[string]dns.Endpoint // as set in the DNS table
	// programmed is set after the first successful reconcile.
	programmed bool
}

// New checks cfg and prepares the driver and the DNS server; nothing is
// made in the kernel and no socket is opened until Run and Prepare.
func New(cfg Config) (*Agent, error) {
	if cfg.Gossip.NodeName == "" {
		cfg.Gossip.NodeName = cfg.NodeID
	}
	// A wildcard bind lets memberlist advertise whichever interface address
	// it likes (after a restart that can be the gateway bridge's): bind to
	// and advertise the VTEP instead. A specific bind address advertises
	// itself.
	if (cfg.Gossip.BindAddr == "" || cfg.Gossip.BindAddr == "0.0.0.0") && cfg.VTEP.IsValid() {
		cfg.Gossip.BindAddr = cfg.VTEP.String()
		if cfg.Gossip.AdvertiseAddr == "" {
			cfg.Gossip.AdvertiseAddr = cfg.VTEP.String()
		}
	}
	if cfg.Gossip.BindPort == 0 {
		cfg.Gossip.BindPort = DefaultGossipPort
	}
	if cfg.Gossip.BindPort < 0 { // tests: any free port
		cfg.Gossip.BindPort = 0
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Gossip.Logger == nil {
		cfg.Gossip.Logger = log
	}
	drv := cfg.Dataplane
	if drv == nil {
		dcfg := netdriver.DefaultConfig()
		dcfg.ExecRoot = cfg.ExecRoot
		dcfg.VTEP = cfg.VTEP
		dcfg.UnderlayNetns = cfg.UnderlayNetns
		dcfg.Logger = log
		dcfg.HasIPVS = cfg.HasIPVS
		dcfg.Egress = gwbridge.Config{Subnet: cfg.Egress}
		dcfg.Backends = map[string]netdriver.BackendFactory{
			netdriver.BackendIPVS: func(nsPath string, lbAddr netip.Addr) (lb.Backend, error) { return ipvs.New(nsPath, lbAddr) },
		}
		if cfg.LBBackend != "auto" {
			dcfg.LBBackend = cfg.LBBackend
		}
		d, err := netdriver.New(context.Background(), dcfg)
		if err != nil {
			return nil, err
		}
		drv = d
	}
	sbx := cfg.Sandboxes
	if sbx == nil {
		sbx = kernelSandboxes{}
	}
	table := dns.NewTable()
	srv := cfg.Resolver
	if srv == nil {
		dc := dns.DefaultConfig(table)
		dc.Upstreams = cfg.DNSUpstreams
		if cfg.ResolvConf != "" {
			dc.ResolvConf = cfg.ResolvConf
		}
		dc.Logger = log
		s, err := dns.New(dc)
		if err != nil {
			return nil, fmt.Errorf("netagent: dns: %w", err)
		}
		srv = s
	}
	a := &Agent{
		cfg: cfg, log: log, drv: drv, sbx: sbx, table: table, dns: srv, dir: drv.NetnsDir(),
		ready: make(chan struct{}), stopped: make(chan struct{}),
		wakeRec: make(chan struct{}, 1), wakePub: make(chan struct{}, 1), wakeIngress: make(chan struct{}, 1),
		tasks: map[string]*localTask{}, nets: map[string]*localNet{},
		egress: newEgressPool(cfg.Egress), dirty: map[string]bool{},
	}
	// ingress_sbox's gateway-bridge address is never a container's.
	a.egress.reserve(netdriver.IngressSbox, drv.IngressSboxAddr().Addr())
	return a, nil
}

// Backend names the lb backend in use and why it was chosen.
func (a *Agent) Backend() (name, reason string) { return a.drv.Backend() }

// Inspect reads back the node's networks from the kernel.
func (a *Agent) Inspect(ctx context.Context) ([]netdriver.NetworkInfo, error) {
	return a.drv.Inspect(ctx)
}

// Gossip is the node's endpoint table (nil before Run has started it).
func (a *Agent) Gossip() *gossip.DB {
	select {
	case <-a.ready:
		return a.db
	default:
		return nil
	}
}

var errStopped = errors.New("netagent: stopped")

// waitReady blocks until Run has started gossip.
func (a *Agent) waitReady(ctx context.Context) error {
	select {
	case <-a.ready:
		return nil
	case <-a.stopped:
		return errStopped
	case <-ctx.Done():
		return fmt.Errorf("netagent: waiting for the node's session and gossip: %w", ctx.Err())
	}
}

// isReady reports whether gossip runs (without blocking).
func (a *Agent) isReady() bool {
	select {
	case <-a.stopped:
		return false
	case <-a.ready:
		return true
	default:
		return false
	}
}

// Prepare implements agent.Network: it makes the task container's
// namespace, attaches it to each of the task's networks (eth0, eth1, ... in
// the task's order) and to the gateway bridge (default route), serves DNS in
// it, and publishes the task in gossip once it runs. Calling it again (an
// adopted container after a restart) repairs and returns the same path.
func (a *Agent) Prepare(ctx context.Context, t *api.Task, networks []*api.Network) (string, error) {
	if t.GetSpec().OnHostNetwork() {
		return a.hostNetns(), nil // hostnet.go
	}
	if len(t.GetNetworks()) == 0 && len(hostPorts(t)) == 0 {
		return "", nil
	}
	if err := a.waitReady(ctx); err != nil {
		return "", err
	}
	byID := map[string]*api.Network{}
	for _, n := range networks {
		byID[n.GetId()] = n
	}
	type attach struct {
		net netdriver.Network
		ep  gossip.Endpoint
	}
	cid := agent.ContainerID(t.GetId())
	var atts []attach
	for _, na := range t.GetNetworks() {
		n := byID[na.GetNetworkId()]
		if n == nil {
			return "", fmt.Errorf("network %s is not known to this node yet", na.GetNetworkId())
		}
		lbAddr, err := a.waitLBAddr(ctx, n.GetId(), n.GetSpec().GetName())
		if err != nil {
			return "", err
		}
		dn, err := driverNetwork(n, lbAddr)
		if err != nil {
			return "", err
		}
		ep, err := taskEndpoint(t, na, cid, a.cfg.VTEP)
		if err != nil {
			return "", err
		}
		if dn.Ingress {
			ep.IngressPorts = ingressPorts(t)
		}
		atts = append(atts, attach{dn, ep})
	}

	a.kmu.Lock()
	defer a.kmu.Unlock()
	defer a.storeEgressLocked()
	if !a.isReady() {
		return "", errStopped
	}
	for _, at := range atts {
		if err := a.ensureNetworkLocked(ctx, at.net); err != nil {
			return "", err
		}
	}
	path, err := a.sbx.Ensure(a.dir, netns.ContainerName(cid))
	if err != nil {
		return "", err
	}
	lt := a.tasks[t.GetId()]
	if lt == nil {
		lt = &localTask{id: t.GetId(), cid: cid, netns: path}
		a.tasks[t.GetId()] = lt
	}
	lt.eps = lt.eps[:0]
	scope := dns.Scope{Upstreams: taskResolvers(t)}
	for i, at := range atts {
		err := a.drv.Attach(ctx, netdriver.Endpoint{NetworkID: at.net.ID, ContainerID: cid, NetnsPath: path,
			Addr: netip.PrefixFrom(at.ep.IP, at.net.Subnet.Bits()), IfName: fmt.Sprintf("eth%d", i)})
		if err != nil {
			return "", err
		}
		lt.eps = append(lt.eps, at.ep)
		if at.net.Ingress {
			// The routing mesh's network carries no names (as Swarm's),
			// and maps published ports to the target ports here.
			if err := a.drv.SetTaskRedirects(ctx, path, at.ep.IP, redirects(at.ep.IngressPorts)); err != nil {
				return "", err
			}
			continue
		}
		scope.Networks = append(scope.Networks, at.net.ID)
	}
	lt.host = hostPorts(t)
	if !lt.egress.IsValid() {
		if old, ok := a.sbx.EgressAddr(path, a.cfg.Egress); ok && a.egress.reserve(cid, old.Addr()) {
			lt.egress = old
		} else if p, ok := a.egress.get(cid); ok {
			lt.egress = p
		} else {
			return "", fmt.Errorf("netagent: gateway bridge %v has no free address", a.cfg.Egress)
		}
	}
	if err := a.drv.AttachEgress(ctx, netdriver.EgressEndpoint{ContainerID: cid, NetnsPath: path, Addr: lt.egress}); err != nil {
		return "", err
	}
	if err := a.dns.Attach(ctx, path, cid, scope); err != nil {
		return "", fmt.Errorf("netagent: dns in %s: %w", netns.ContainerName(cid), err)
	}
	a.log.Info("task networked", "task", t.GetId(), "container", cid[:12], "netns", path, "egress", lt.egress)
	a.poke(a.wakePub)
	return path, nil
}

// Release implements agent.Network: it unpublishes the task, stops DNS in
// its namespace, detaches and deletes the namespace, and removes a network
// no other task of this node uses. Releasing what is not there is no error.
func (a *Agent) Release(ctx context.Context, t *api.Task) error {
	if len(t.GetNetworks()) == 0 && len(hostPorts(t)) == 0 {
		return nil
	}
	a.kmu.Lock()
	defer a.kmu.Unlock()
	defer a.storeEgressLocked()
	cid := agent.ContainerID(t.GetId())
	lt := a.tasks[t.GetId()]
	if lt == nil {
		lt = &localTask{id: t.GetId(), cid: cid, netns: filepath.Join(a.dir, netns.ContainerName(cid))}
		for _, na := range t.GetNetworks() {
			lt.eps = append(lt.eps, gossip.Endpoint{NetworkID: na.GetNetworkId(), TaskID: t.GetId(), ContainerID: cid})
		}
		lt.published = true // delete whatever a previous run published
	}
	var errs []error
	a.unpublishLocked(lt)
	errs = append(errs, a.dns.Detach(cid))
	for _, ep := range lt.eps {
		errs = append(errs, a.drv.Detach(ctx, ep.NetworkID, cid))
	}
	errs = append(errs, a.drv.DetachEgress(ctx, cid))
	errs = append(errs, a.sbx.Delete(lt.netns))
	a.egress.release(cid)
	delete(a.tasks, t.GetId())
	a.markDirty(publishKey)
	for _, ep := range lt.eps {
		if !a.networkUsedLocked(ep.NetworkID) {
			errs = append(errs, a.removeNetworkLocked(ctx, ep.NetworkID))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("netagent: release task %s: %w", t.GetId(), err)
	}
	a.log.Info("task network released", "task", t.GetId(), "container", cid[:12])
	return nil
}

func (a *Agent) networkUsedLocked(id string) bool {
	if id != "" && id == a.ingressID {
		return true // every node of the swarm holds the routing mesh
	}
	for _, lt := range a.tasks {
		for _, ep := range lt.eps {
			if ep.NetworkID == id {
				return true
			}
		}
	}
	return false
}

// ensureNetworkLocked makes the network's namespaces and lb on this node,
// joins its gossip table and publishes the node's lb endpoint there.
func (a *Agent) ensureNetworkLocked(ctx context.Context, n netdriver.Network) error {
	if err := a.drv.EnsureNetwork(ctx, n); err != nil {
		return err
	}
	ln := a.nets[n.ID]
	if ln == nil || ln.net != n {
		if ln == nil {
			ln = &localNet{names: map[string]dns.Endpoint{}}
			a.nets[n.ID] = ln
		}
		ln.net = n
		ln.lbEP = gossip.Endpoint{NetworkID: n.ID, ContainerID: "lb-" + a.cfg.NodeID, IP: n.LBAddr.Addr(), VTEP: a.cfg.VTEP}
		if err := a.db.JoinNetwork(n.ID); err != nil {
			return fmt.Errorf("netagent: gossip: %w", err)
		}
		if err := a.db.PutEndpoint(ln.lbEP); err != nil {
			return fmt.Errorf("netagent: gossip: %w", err)
		}
	}
	a.markDirty(n.ID)
	return nil
}

// removeNetworkLocked takes a network off this node: its table (the other
// nodes drop this node's entries), its DNS names and its namespaces.
func (a *Agent) removeNetworkLocked(ctx context.Context, id string) error {
	ln := a.nets[id]
	delete(a.nets, id)
	if ln != nil {
		for k := range ln.names {
			a.table.Delete(id, k)
		}
	}
	if a.db != nil {
		if err := a.db.LeaveNetwork(id); err != nil && !errors.Is(err, gossip.ErrNotJoined) && a.isReady() {
			a.log.Warn("leaving network table", "network", id, "err", err)
		}
	}
	return a.drv.RemoveNetwork(ctx, id)
}

// waitLBAddr returns this node's lb endpoint on the network, waiting for
// the leader to allocate it (it does when the first task lands here).
func (a *Agent) waitLBAddr(ctx context.Context, netID, name string) (netip.Prefix, error) {
	timer := time.NewTimer(a.cfg.LBAddrWait)
	defer timer.Stop()
	for {
		ch := a.view.Changed()
		for _, att := range a.view.Node().GetLbAttachments() {
			if att.GetNetworkId() != netID || len(att.GetAddresses()) == 0 {
				continue
			}
			p, err := netip.ParsePrefix(att.GetAddresses()[0])
			if err != nil {
				return netip.Prefix{}, fmt.Errorf("network %s: lb endpoint address %q: %w", name, att.GetAddresses()[0], err)
			}
			return p, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return netip.Prefix{}, ctx.Err()
		case <-timer.C:
			return netip.Prefix{}, fmt.Errorf("network %s: the leader has not allocated this node's lb endpoint address after %v", name, a.cfg.LBAddrWait)
		}
	}
}

// driverNetwork is the netdriver's view of an allocated network.
func driverNetwork(n *api.Network, lbAddr netip.Prefix) (netdriver.Network, error) {
	sub, err := netip.ParsePrefix(n.GetSubnet())
	if err != nil {
		return netdriver.Network{}, fmt.Errorf("network %s: subnet %q not allocated: %w", n.GetSpec().GetName(), n.GetSubnet(), err)
	}
	gwText, _, _ := strings.Cut(n.GetGateway(), "/")
	gw, err := netip.ParseAddr(gwText)
	if err != nil {
		return netdriver.Network{}, fmt.Errorf("network %s: gateway %q: %w", n.GetSpec().GetName(), n.GetGateway(), err)
	}
	return netdriver.Network{ID: n.GetId(), Name: n.GetSpec().GetName(), Subnet: sub.Masked(), Gateway: gw,
		VNI: n.GetVni(), LBAddr: netip.PrefixFrom(lbAddr.Addr(), sub.Bits()), Ingress: n.GetSpec().GetIngress()}, nil
}

// taskEndpoint is what gossip carries of a task on one network.
func taskEndpoint(t *api.Task, na *api.NetworkAttachment, cid string, vtep netip.Addr) (gossip.Endpoint, error) {
	if len(na.GetAddresses()) == 0 {
		return gossip.Endpoint{}, fmt.Errorf("task %s has no address on network %s", t.GetId(), na.GetNetworkId())
	}
	ip, err := netip.ParsePrefix(na.GetAddresses()[0])
	if err != nil {
		return gossip.Endpoint{}, fmt.Errorf("task %s: address %q: %w", t.GetId(), na.GetAddresses()[0], err)
	}
	ep := gossip.Endpoint{NetworkID: na.GetNetworkId(), ContainerID: cid, TaskID: t.GetId(), Name: agent.TaskName(t),
		ServiceID: t.GetServiceId(), ServiceName: t.GetServiceName(), IP: ip.Addr(), VTEP: vtep, Aliases: na.GetAliases()}
	if mac, err := parseMAC(na.GetMacAddress()); err == nil {
		ep.MAC = mac
	}
	for _, v := range t.GetEndpoint().GetVirtualIps() {
		if v.GetNetworkId() != na.GetNetworkId() {
			continue
		}
		if p, err := netip.ParsePrefix(v.GetAddr()); err == nil {
			ep.VIP, ep.Mark = p.Addr(), v.GetFwmark()
		} else if a, err := netip.ParseAddr(v.GetAddr()); err == nil {
			ep.VIP, ep.Mark = a, v.GetFwmark()
		}
	}
	return ep, nil
}

var containerNetnsName = regexp.MustCompile(`^[0-9a-f]{12}$`)

// disableIPv6 turns IPv6 off in the calling thread's namespace, as Docker
// does in containers on networks without IPv6: the task's interfaces then
// carry only their IPv4 addresses (what whoami lists in the tutorial).
// "default" covers eth0 and eth1, moved in afterwards.
func disableIPv6() error {
	for _, k := range []string{"all", "default"} {
		if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+k+"/disable_ipv6", []byte("1"), 0o644); err != nil {
			return fmt.Errorf("disabling IPv6: %w", err)
		}
	}
	return nil
}
