// Package netdriver is one node's overlay networking, as the worker agent
// drives it: per overlay network a sandbox namespace with bridge and vxlan,
// an lb namespace with the node's lb endpoint, the service VIPs and a
// kernel load balancer (nftables, or IPVS where the kernel has it), veths
// into containers, and the static vxlan peers. It takes every address from
// its caller (the allocator decides them) and keeps no state that the
// kernel does not hold, so a restarted daemon adopts what it finds. It must
// not speak gossip or DNS; worker/ and netdriver/dns do.
package netdriver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/minsw/minsw/netdriver/gwbridge"
	"github.com/minsw/minsw/netdriver/lb"
	"github.com/minsw/minsw/netdriver/lb/nft"
	"github.com/minsw/minsw/netdriver/netns"
	"github.com/minsw/minsw/netdriver/overlay"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Error kinds, for the API edge to map to status codes.
var (
	ErrInvalid     = errors.New("invalid argument")
	ErrNotFound    = errors.New("not found")
	ErrConflict    = errors.New("conflict")
	ErrUnsupported = errors.New("not supported by this kernel")
)

// Names of the load balancer backends.
const (
	BackendNFTables = "nftables"
	BackendIPVS     = "ipvs"
)

// BackendFactory opens the load balancer of the lb namespace at nsPath,
// source-NATing to lbAddr. The ipvs package registers one through
// Config.Backends so that this package need not import it.
type BackendFactory func(nsPath string, lbAddr netip.Addr) (lb.Backend, error)

// Config is the node's netdriver configuration.
type Config struct {
	// ExecRoot holds the namespace files, under ExecRoot/netns.
	ExecRoot string
	// VTEP is the node's underlay (advertise) address: vxlan local.
	VTEP netip.Addr
	// LBBackend forces "nftables" or "ipvs"; "" picks ipvs where the
	// kernel has it and a factory is registered, else nftables.
	LBBackend string
	// Backends adds factories by name; "nftables" is built in.
	Backends map[string]BackendFactory
	// UnderlayNetns is the namespace whose sockets vxlan devices use; ""
	// means the namespace of the thread that calls New (the daemon may
	// itself run inside a lab node's namespace).
	UnderlayNetns string
	// MTU of overlay links; 0 means 1450.
	MTU int
	// Logger gets one line per network made or removed and the backend
	// choice; nil discards.
	Logger *slog.Logger
	// Egress is the gateway bridge containers leave the node through
	// (docker_gwbridge's counterpart); zero fields take gwbridge's defaults
	// (minsw_gwbridge, 172.18.0.0/16). It is made on first AttachEgress.
	Egress gwbridge.Config
	// HasIPVS reports whether the kernel has IPVS; nil probes /proc and
	// the module tree. Injected by tests.
	HasIPVS func() bool
}

// DefaultConfig is the configuration of a node daemon that was given only
// its VTEP.
func DefaultConfig() Config {
	return Config{ExecRoot: "/var/run/minsw", MTU: overlay.DefaultMTU}
}

// Validate reports the first malformed field of c.
func (c *Config) Validate() error {
	switch {
	case c.ExecRoot == "" || !filepath.IsAbs(c.ExecRoot):
		return fmt.Errorf("netdriver: %w: exec root %q must be an absolute path", ErrInvalid, c.ExecRoot)
	case !c.VTEP.Is4():
		return fmt.Errorf("netdriver: %w: VTEP %v must be an IPv4 address", ErrInvalid, c.VTEP)
	case c.MTU < 0 || c.MTU > 65535:
		return fmt.Errorf("netdriver: %w: MTU %d", ErrInvalid, c.MTU)
	}
	if c.LBBackend == "auto" {
		return fmt.Errorf("netdriver: %w: lb backend \"auto\" is the empty choice here", ErrInvalid)
	}
	if err := CheckBackendChoice(c.LBBackend); err != nil {
		return fmt.Errorf("netdriver: %w: %w", ErrInvalid, err)
	}
	if c.LBBackend == BackendIPVS && c.Backends[BackendIPVS] == nil {
		return fmt.Errorf("netdriver: %w: lb backend ipvs forced but not registered", ErrInvalid)
	}
	return nil
}

// Network is one overlay network as this node needs it.
type Network struct {
	ID      string
	Name    string
	Subnet  netip.Prefix
	Gateway netip.Addr
	VNI     uint32
	// LBAddr is this node's lb endpoint on the network (10.0.1.37/24).
	LBAddr netip.Prefix
	// Ingress marks the routing mesh's network: its lb namespace is
	// ingress_sbox (see EnsureIngress).
	Ingress bool
}

func (n Network) validate() error {
	switch {
	case n.ID == "" || strings.ContainsAny(n.ID, "/ \x00"):
		return fmt.Errorf("%w: network id %q", ErrInvalid, n.ID)
	case !n.Subnet.IsValid() || !n.Subnet.Addr().Is4() || n.Subnet.Bits() > 30:
		return fmt.Errorf("%w: network %s: subnet %v", ErrInvalid, n.ID, n.Subnet)
	case !n.Subnet.Contains(n.Gateway):
		return fmt.Errorf("%w: network %s: gateway %v outside %v", ErrInvalid, n.ID, n.Gateway, n.Subnet)
	case n.VNI == 0 || n.VNI >= 1<<24:
		return fmt.Errorf("%w: network %s: VNI %d", ErrInvalid, n.ID, n.VNI)
	case !n.LBAddr.IsValid() || !n.Subnet.Contains(n.LBAddr.Addr()) || n.LBAddr.Addr() == n.Gateway:
		return fmt.Errorf("%w: network %s: lb address %v must be in %v and not the gateway", ErrInvalid, n.ID, n.LBAddr, n.Subnet)
	}
	return nil
}

// Endpoint is one container's interface on a network.
type Endpoint struct {
	NetworkID   string
	ContainerID string
	NetnsPath   string
	Addr        netip.Prefix
	// IfName inside the container; "" picks the first free ethN.
	IfName string
	// DefaultRoute routes 0.0.0.0/0 via the network's gateway.
	DefaultRoute bool
}

// Peer is a remote endpoint (container or another node's lb endpoint).
type Peer struct {
	Addr netip.Addr
	MAC  net.HardwareAddr // nil derives it from Addr
	VTEP netip.Addr
}

// Driver is one node's netdriver. Its methods are safe for concurrent use.
type Driver struct {
	cfg      Config
	dir      string
	log      *slog.Logger
	underlay vnetns.NsHandle
	backend  string
	why      string
	factory  BackendFactory

	mu     sync.Mutex
	nets   map[string]*netState
	gw     *gwbridge.Bridge
	ing    *ingressState
	closed bool
}

type netState struct {
	net  Network
	ov   *overlay.Network
	lb   lb.Backend
	svcs map[uint32]lb.Service
}

// New checks cfg and picks the lb backend. It changes nothing in the kernel;
// call Reconcile to adopt or clear what a previous run left.
func New(ctx context.Context, cfg Config) (*Driver, error) {
	if cfg.MTU == 0 {
		cfg.MTU = overlay.DefaultMTU
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Driver{cfg: cfg, dir: filepath.Join(cfg.ExecRoot, "netns"), log: cfg.Logger, nets: map[string]*netState{}}
	if d.log == nil {
		d.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var err error
	if cfg.UnderlayNetns != "" {
		d.underlay, err = netns.Open(cfg.UnderlayNetns)
	} else {
		d.underlay, err = netns.Current()
	}
	if err != nil {
		return nil, fmt.Errorf("netdriver: underlay namespace: %w", err)
	}
	d.backend, d.why, d.factory = chooseBackend(cfg)
	d.log.Info("lb backend chosen", "backend", d.backend, "reason", d.why)
	return d, nil
}

func chooseBackend(cfg Config) (string, string, BackendFactory) {
	factories := map[string]BackendFactory{BackendNFTables: nftFactory}
	for k, f := range cfg.Backends {
		if f != nil {
			factories[k] = f
		}
	}
	if cfg.LBBackend != "" {
		return cfg.LBBackend, "forced by configuration (--lb-backend)", factories[cfg.LBBackend]
	}
	has := cfg.HasIPVS
	if has == nil {
		has = KernelHasIPVS
	}
	switch {
	case factories[BackendIPVS] == nil:
		return BackendNFTables, "ipvs backend not built into this daemon", factories[BackendNFTables]
	case has():
		return BackendIPVS, "kernel has IPVS", factories[BackendIPVS]
	default:
		return BackendNFTables, "kernel lacks IPVS (no /proc/net/ip_vs, no ip_vs module)", factories[BackendNFTables]
	}
}

func nftFactory(nsPath string, lbAddr netip.Addr) (lb.Backend, error) { return nft.New(nsPath, lbAddr) }

// KernelHasIPVS reports whether IPVS is loaded or loadable: /proc/net/ip_vs,
// /sys/module/ip_vs, or an ip_vs module for the running kernel.
func KernelHasIPVS() bool {
	for _, p := range []string{"/proc/net/ip_vs", "/sys/module/ip_vs"} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	if rel := kernelRelease(); rel != "" {
		b, err := os.ReadFile(filepath.Join("/lib/modules", rel, "modules.dep"))
		if err == nil && strings.Contains(string(b), "/ip_vs.ko") {
			return true
		}
		b, err = os.ReadFile(filepath.Join("/lib/modules", rel, "modules.builtin"))
		if err == nil && strings.Contains(string(b), "/ip_vs.ko") {
			return true
		}
	}
	return false
}

// Backend names the lb backend in use and why it was chosen.
func (d *Driver) Backend() (name, reason string) { return d.backend, d.why }

// NetnsDir is where the namespace files live (ExecRoot/netns).
func (d *Driver) NetnsDir() string { return d.dir }

func (d *Driver) overlayConfig(n Network) overlay.Config {
	return overlay.Config{
		ID:      n.ID,
		VNI:     n.VNI,
		Gateway: netip.PrefixFrom(n.Gateway, n.Subnet.Bits()),
		VTEP:    d.cfg.VTEP,
		LBAddr:  netip.PrefixFrom(n.LBAddr.Addr(), n.Subnet.Bits()),
		MTU:     d.cfg.MTU,
		LBName:  lbNameOf(n),
	}
}

// lbNameOf is the network's lb namespace name: lb_<id>, or ingress_sbox.
func lbNameOf(n Network) string {
	if n.Ingress {
		return IngressSbox
	}
	return netns.LBName(n.ID)
}

// EnsureNetwork creates the network's namespaces, links and load balancer
// on this node, or adopts and repairs them; calling it again is harmless.
func (d *Driver) EnsureNetwork(ctx context.Context, n Network) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := n.validate(); err != nil {
		return fmt.Errorf("netdriver: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errClosed
	}
	if cur, ok := d.nets[n.ID]; ok && cur.net == n {
		// Known: still repair the kernel side (a link deleted by hand).
		if _, err := overlay.Ensure(d.dir, d.underlay, d.overlayConfig(n)); err != nil {
			return fmt.Errorf("netdriver: %w", err)
		}
		return nil
	}
	for id, o := range d.nets {
		if id != n.ID && o.net.VNI == n.VNI {
			return fmt.Errorf("netdriver: %w: VNI %d already used by network %s", ErrConflict, n.VNI, id)
		}
	}
	if err := d.checkSubnetClash(n); err != nil {
		return err
	}
	if old, ok := d.nets[n.ID]; ok && (old.net.VNI != n.VNI || old.net.Subnet != n.Subnet || old.net.LBAddr != n.LBAddr || old.net.Gateway != n.Gateway || old.net.Ingress != n.Ingress) {
		// Re-addressed: rebuild from scratch.
		if err := d.removeLocked(old); err != nil {
			return err
		}
	}
	ov, err := overlay.Ensure(d.dir, d.underlay, d.overlayConfig(n))
	if err != nil {
		return fmt.Errorf("netdriver: %w", err)
	}
	st := &netState{net: n, ov: ov, svcs: map[uint32]lb.Service{}}
	if old, ok := d.nets[n.ID]; ok && old.lb != nil && old.net.LBAddr == n.LBAddr && old.net.Ingress == n.Ingress {
		st.lb, st.svcs = old.lb, old.svcs
	} else {
		if st.lb, err = d.factory(ov.LBPath(), n.LBAddr.Addr()); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				err = fmt.Errorf("%w: %w", ErrUnsupported, err)
			}
			return fmt.Errorf("netdriver: network %s: lb backend %s: %w", n.ID, d.backend, err)
		}
		// Adopt services a previous run programmed.
		if svcs, err := st.lb.Services(); err == nil {
			for _, s := range svcs {
				st.svcs[s.Mark] = s
			}
		}
	}
	d.nets[n.ID] = st
	d.log.Info("network ready", "network", n.ID, "name", n.Name, "vni", n.VNI,
		"sandbox", netns.SandboxName(n.ID), "lb", lbNameOf(n), "lb_backend", d.backend)
	return nil
}

// checkSubnetClash refuses a subnet that overlaps an address of the node's
// own (underlay) namespace: its traffic would be routed into the overlay.
func (d *Driver) checkSubnetClash(n Network) error {
	var addrs []netlink.Addr
	err := netns.WithNsHandle(d.underlay, func(h *netlink.Handle) (err error) {
		addrs, err = h.AddrList(nil, netlink.FAMILY_V4)
		return err
	})
	if err != nil {
		return fmt.Errorf("netdriver: underlay addresses: %w", err)
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP.To4())
		if !ok || ip.IsLoopback() {
			continue
		}
		ones, _ := a.Mask.Size()
		p := netip.PrefixFrom(ip, ones).Masked()
		if p.Overlaps(n.Subnet) {
			return fmt.Errorf("netdriver: %w: network %s subnet %v overlaps the node's own %v (%s)", ErrConflict, n.ID, n.Subnet, p, a.Label)
		}
	}
	return nil
}

var errClosed = errors.New("netdriver: driver closed")

func (d *Driver) get(id string) (*netState, error) {
	if d.closed {
		return nil, errClosed
	}
	st, ok := d.nets[id]
	if !ok {
		return nil, fmt.Errorf("netdriver: %w: network %s is not on this node", ErrNotFound, id)
	}
	return st, nil
}

// RemoveNetwork deletes the network's load balancer, links and namespaces.
// Removing a network that is not there is no error.
func (d *Driver) RemoveNetwork(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errClosed
	}
	st, ok := d.nets[id]
	if !ok {
		// Not known (a restart before Reconcile): remove by name.
		return d.removeStale(netns.SandboxName(id), netns.LBName(id))
	}
	return d.removeLocked(st)
}

func (d *Driver) removeLocked(st *netState) error {
	var errs []error
	if st.lb != nil {
		errs = append(errs, st.lb.Close())
	}
	errs = append(errs, st.ov.Remove())
	delete(d.nets, st.net.ID)
	d.log.Info("network removed", "network", st.net.ID)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("netdriver: remove network %s: %w", st.net.ID, err)
	}
	return nil
}

// Attach connects a container's namespace to a network.
func (d *Driver) Attach(ctx context.Context, ep Endpoint) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	st, err := d.get(ep.NetworkID)
	if err != nil {
		return err
	}
	if !ep.Addr.IsValid() || !st.net.Subnet.Contains(ep.Addr.Addr()) {
		return fmt.Errorf("netdriver: %w: endpoint %s address %v outside %v", ErrInvalid, ep.ContainerID, ep.Addr, st.net.Subnet)
	}
	if ep.Addr.Bits() != st.net.Subnet.Bits() {
		ep.Addr = netip.PrefixFrom(ep.Addr.Addr(), st.net.Subnet.Bits())
	}
	err = st.ov.Attach(overlay.Endpoint{ContainerID: ep.ContainerID, NetnsPath: ep.NetnsPath, Addr: ep.Addr,
		IfName: ep.IfName, DefaultRoute: ep.DefaultRoute})
	if err != nil {
		return fmt.Errorf("netdriver: %w", err)
	}
	return nil
}

// Detach removes a container's interface from a network; detaching what is
// not attached is no error.
func (d *Driver) Detach(ctx context.Context, networkID, containerID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	st, ok := d.nets[networkID]
	if !ok {
		return nil
	}
	return st.ov.Detach(containerID)
}

// SetPeers makes the network's remote peers exactly peers.
func (d *Driver) SetPeers(ctx context.Context, networkID string, peers []Peer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	st, err := d.get(networkID)
	if err != nil {
		return err
	}
	ops := make([]overlay.Peer, 0, len(peers))
	for _, p := range peers {
		if p.VTEP == d.cfg.VTEP {
			continue // local endpoints are on the bridge
		}
		mac := p.MAC
		if mac == nil && p.Addr.Is4() {
			mac = overlay.MACFromIP(p.Addr)
		}
		ops = append(ops, overlay.Peer{Addr: p.Addr, MAC: mac, VTEP: p.VTEP})
	}
	if err := st.ov.SetPeers(ops); err != nil {
		return fmt.Errorf("netdriver: %w: %w", ErrInvalid, err)
	}
	return nil
}

// SetServices makes the network's load balancer hold exactly svcs: the VIP
// addresses on the lb endpoint and the backend's marks and backends, changed
// in one backend transaction.
func (d *Driver) SetServices(ctx context.Context, networkID string, svcs []lb.Service) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	vips := make([]netip.Addr, 0, len(svcs))
	seenVIP := make(map[netip.Addr]uint32, len(svcs))
	seenMark := make(map[uint32]bool, len(svcs))
	for _, s := range svcs {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("netdriver: %w: %w", ErrInvalid, err)
		}
		if m, dup := seenVIP[s.VIP]; dup {
			return fmt.Errorf("netdriver: %w: VIP %v given to marks %#x and %#x", ErrInvalid, s.VIP, m, s.Mark)
		}
		if seenMark[s.Mark] {
			return fmt.Errorf("netdriver: %w: mark %#x given twice", ErrInvalid, s.Mark)
		}
		seenVIP[s.VIP], seenMark[s.Mark] = s.Mark, true
		vips = append(vips, s.VIP)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	st, err := d.get(networkID)
	if err != nil {
		return err
	}
	for _, v := range vips {
		if !st.net.Subnet.Contains(v) {
			return fmt.Errorf("netdriver: %w: VIP %v outside network %s (%v)", ErrInvalid, v, networkID, st.net.Subnet)
		}
	}
	set, del := DiffServices(st.svcs, svcs)
	if len(set) == 0 && len(del) == 0 {
		return nil
	}
	// New VIPs must be local before traffic is marked for them; stale ones
	// go with them (no rule points at them any more after Apply).
	if err := st.ov.SetVIPs(vips); err != nil {
		return fmt.Errorf("netdriver: %w", err)
	}
	if err := st.lb.Apply(set, del); err != nil {
		return fmt.Errorf("netdriver: network %s: %w", networkID, err)
	}
	for _, m := range del {
		delete(st.svcs, m)
	}
	for _, s := range set {
		st.svcs[s.Mark] = s
	}
	return nil
}

// DiffServices is what Apply needs to turn cur into want: the services that
// are new or changed, and the marks that are gone. It is pure.
func DiffServices(cur map[uint32]lb.Service, want []lb.Service) (set []lb.Service, del []uint32) {
	keep := make(map[uint32]bool, len(want))
	for _, s := range want {
		keep[s.Mark] = true
		if old, ok := cur[s.Mark]; ok && old.VIP == s.VIP && slices.Equal(old.Backends, s.Backends) &&
			slices.Equal(old.Draining, s.Draining) {
			continue
		}
		s.Backends = slices.Clone(s.Backends)
		s.Draining = slices.Clone(s.Draining)
		set = append(set, s)
	}
	for m := range cur {
		if !keep[m] {
			del = append(del, m)
		}
	}
	slices.Sort(del)
	return set, del
}

// NetworkInfo is one network as `minsw lb inspect` and `network inspect`
// show it.
type NetworkInfo struct {
	ID, Name       string
	Subnet         netip.Prefix
	VNI            uint32
	Sandbox        string // namespace file path
	LBNetns        string
	LBAddr         netip.Prefix
	Backend        string
	VIPs           []netip.Addr
	Services       []lb.Service // read from the kernel
	Endpoints      []string     // container ids attached on this node
	Peers          []Peer
	ServicesErrors string `json:",omitempty"`
	// Ingress is set on the routing mesh's network: the ports the node
	// publishes and the marks ingress_sbox gives them.
	Ingress *IngressInfo `json:",omitempty"`
	// Conns counts each backend's connections (ActiveConn, InActConn).
	Conns []lb.Conns `json:",omitempty"`
}

// Inspect reads back from the kernel every network the driver holds.
func (d *Driver) Inspect(ctx context.Context) ([]NetworkInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	ids := make([]string, 0, len(d.nets))
	for id := range d.nets {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]NetworkInfo, 0, len(ids))
	var errs []error
	for _, id := range ids {
		st := d.nets[id]
		info := NetworkInfo{ID: id, Name: st.net.Name, Subnet: st.net.Subnet, VNI: st.net.VNI,
			Sandbox: st.ov.SandboxPath(), LBNetns: st.ov.LBPath(), LBAddr: st.net.LBAddr, Backend: st.lb.Name()}
		var err error
		if info.Services, err = st.lb.Services(); err != nil {
			info.ServicesErrors = err.Error()
			errs = append(errs, err)
		}
		if cc, ok := st.lb.(lb.ConnCounter); ok {
			if info.Conns, err = cc.Conns(); err != nil {
				errs = append(errs, err)
			}
		}
		if info.VIPs, err = st.ov.VIPs(); err != nil {
			errs = append(errs, err)
		}
		if info.Endpoints, err = st.ov.Endpoints(); err != nil {
			errs = append(errs, err)
		}
		peers, err := st.ov.Peers()
		errs = append(errs, err)
		for _, p := range peers {
			info.Peers = append(info.Peers, Peer(p))
		}
		if st.net.Ingress {
			in, err := d.inspectIngressLocked(st)
			info.Ingress = &in
			errs = append(errs, err)
		}
		out = append(out, info)
	}
	return out, errors.Join(errs...)
}

// Reconcile makes the node hold exactly the networks in want: each is
// adopted (or rebuilt) with EnsureNetwork, and sandbox and lb namespaces of
// any other network under the exec root — left by a crashed daemon — are
// deleted. It never stops at the first failure.
func (d *Driver) Reconcile(ctx context.Context, want []Network) error {
	var errs []error
	keep := map[string]bool{}
	for _, n := range want {
		keep[netns.SandboxName(n.ID)] = true
		keep[lbNameOf(n)] = true
		if err := d.EnsureNetwork(ctx, n); err != nil {
			errs = append(errs, err)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, st := range d.nets {
		if !keep[netns.SandboxName(id)] {
			errs = append(errs, d.removeLocked(st))
		}
	}
	names, err := netns.List(d.dir)
	errs = append(errs, err)
	var stale []string
	for _, name := range names {
		if keep[name] || !isNetworkNetns(name) {
			continue // containers' namespaces belong to the executor
		}
		stale = append(stale, name)
	}
	if len(stale) > 0 {
		d.log.Info("removing stale namespaces", "names", stale)
		errs = append(errs, d.removeStale(stale...))
	}
	// A crash between creating vxlan0 in the underlay and moving it into
	// the sandbox leaves a vx-<vni>-<id[:5]>; delete those of networks we
	// know of (wanted or stale), never another program's.
	ids := make([]string, 0, len(want)+len(stale))
	for _, n := range want {
		ids = append(ids, n.ID)
	}
	for _, name := range stale {
		ids = append(ids, strings.TrimPrefix(strings.TrimPrefix(name, "1-"), "lb_"))
	}
	errs = append(errs, d.deleteTempVxlans(ids))
	return errors.Join(errs...)
}

func (d *Driver) deleteTempVxlans(ids []string) error {
	return netns.WithNsHandle(d.underlay, func(h *netlink.Handle) error { return d.deleteTempVxlansWith(h, ids) })
}

func (d *Driver) deleteTempVxlansWith(h *netlink.Handle, ids []string) error {
	links, err := h.LinkList()
	if err != nil {
		return fmt.Errorf("netdriver: underlay links: %w", err)
	}
	var errs []error
	for _, l := range links {
		name := l.Attrs().Name
		if _, ok := l.(*netlink.Vxlan); !ok || !overlay.IsVxlanTempName(name) {
			continue
		}
		for _, id := range ids {
			if len(id) >= 5 && strings.HasSuffix(name, "-"+id[:5]) {
				d.log.Info("deleting stale vxlan", "link", name)
				if err := h.LinkDel(l); err != nil {
					errs = append(errs, fmt.Errorf("netdriver: delete stale %s: %w", name, err))
				}
				break
			}
		}
	}
	return errors.Join(errs...)
}

func isNetworkNetns(name string) bool {
	return strings.HasPrefix(name, "1-") || strings.HasPrefix(name, "lb_") || name == IngressSbox
}

// removeStale deletes namespaces by name, links in them first.
func (d *Driver) removeStale(names ...string) error {
	var errs []error
	for _, name := range names {
		path := filepath.Join(d.dir, name)
		if netns.IsNetns(path) {
			errs = append(errs, deleteLinks(path))
		}
		errs = append(errs, netns.Delete(path))
	}
	return errors.Join(errs...)
}

// deleteLinks removes every link but lo in a namespace, so that a vxlan's
// VNI is free at once rather than when the namespace is finally freed.
func deleteLinks(path string) error {
	return netns.WithHandle(path, func(h *netlink.Handle) error {
		links, err := h.LinkList()
		if err != nil {
			return err
		}
		for _, l := range links {
			if l.Attrs().Name != "lo" {
				h.LinkDel(l)
			}
		}
		return nil
	})
}

// EgressEndpoint is a container's leg on the gateway bridge.
type EgressEndpoint struct {
	ContainerID string
	NetnsPath   string
	Addr        netip.Prefix // in Config.Egress.Subnet, chosen by the caller
}

// AttachEgress gives a container a leg on the gateway bridge with the
// default route, masqueraded out of the node, making the bridge if needed.
func (d *Driver) AttachEgress(ctx context.Context, ep EgressEndpoint) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errClosed
	}
	if d.gw == nil {
		gw, err := gwbridge.Ensure(d.underlay, d.cfg.Egress)
		if err != nil {
			return fmt.Errorf("netdriver: %w", err)
		}
		d.gw = gw
	}
	if err := d.gw.Attach(ep.ContainerID, ep.NetnsPath, ep.Addr); err != nil {
		return fmt.Errorf("netdriver: %w: %w", ErrInvalid, err)
	}
	return nil
}

// DetachEgress removes a container's gateway bridge leg.
func (d *Driver) DetachEgress(ctx context.Context, containerID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.gw == nil {
		return nil
	}
	return d.gw.Detach(containerID)
}

// Close removes every network of this node (their namespaces, links and
// load balancers, including stale ones under the exec root) and releases
// the exec root's netns mount. Container namespaces are left to the
// executor.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	var errs []error
	errs = append(errs, d.closeIngressLocked())
	for _, st := range d.nets {
		errs = append(errs, d.removeLocked(st))
	}
	names, err := netns.List(d.dir)
	errs = append(errs, err)
	var stale []string
	for _, name := range names {
		if isNetworkNetns(name) {
			stale = append(stale, name)
		}
	}
	errs = append(errs, d.removeStale(stale...))
	errs = append(errs, netns.Release(d.dir))
	if d.gw != nil {
		errs = append(errs, d.gw.Remove())
	}
	d.underlay.Close()
	return errors.Join(errs...)
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}
