// Package ipvs is the IPVS load-balancer backend: inside one lb_ (or
// ingress_sbox) namespace it keeps one IPVS fwmark service per lb.Service
// (round robin, masquerading destinations of weight 1, as libnetwork makes
// them), the nftables rules that mark packets to a VIP and source-NAT what
// IPVS forwarded to the namespace's endpoint address, and the sysctls IPVS
// needs there. It owns IPVS in its namespace and the nftables table
// TableName; it must not touch links, addresses or any other table.
package ipvs

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/google/nftables"
	mobyipvs "github.com/moby/ipvs"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/minsw/minsw/netdriver/lb"
	minswns "github.com/minsw/minsw/netdriver/netns"
)

// ErrNoIPVS is returned by New when the kernel has no IPVS, so the
// netdriver can fall back to the nftables backend.
var ErrNoIPVS = errors.New("kernel has no IPVS (needs CONFIG_IP_VS and module ip_vs)")

// Scheduler is the IPVS scheduler of every service, as Swarm uses it.
const Scheduler = mobyipvs.RoundRobin

// IdleTCPTimeout is how long IPVS keeps an established TCP connection
// that carries no packet: conntrack's own default (5 days) instead of
// IPVS's 15 minutes. With IPVS's, an idle connection through a VIP (a
// database pool's) outlives its IPVS entry and then hangs for good, which
// is moby#31208; Swarm leaves it to users to set keepalives below 15 min.
const IdleTCPTimeout = 5 * 24 * time.Hour

// Backend is an lb.Backend on IPVS. Its methods may be called from several
// goroutines.
type Backend struct {
	mu     sync.Mutex
	ns     netns.NsHandle
	lbAddr netip.Addr
	ipvs   *mobyipvs.Handle
	nft    *nftables.Conn
	obj    nftObjects
	// state is what the kernel holds, as of New or the last Apply; Apply
	// diffs against it and reloads it from the kernel when a change fails.
	// owner indexes it by VIP.
	state map[uint32]entry
	owner map[netip.Addr]uint32
}

var _ lb.Backend = (*Backend)(nil)

// New opens the backend in the namespace whose file is nsPath (the
// caller's own namespace when nsPath is empty), with lbAddr, the
// namespace's endpoint address, as the source of NATed connections. It sets
// the namespace's IPVS sysctls and adopts whatever an earlier backend left
// there, so a restarted daemon reconciles instead of duplicating. When the
// kernel has no IPVS the error wraps ErrNoIPVS.
func New(nsPath string, lbAddr netip.Addr) (*Backend, error) {
	if !lbAddr.Is4() {
		return nil, fmt.Errorf("lb/ipvs: lb endpoint address %v is not IPv4", lbAddr)
	}
	// The IPVS generic netlink family is global; asking for it also makes
	// the kernel load ip_vs when it is a module.
	if err := minswns.WithHandle("", func(h *netlink.Handle) error { _, err := h.GenlFamilyGet("IPVS"); return err }, unix.NETLINK_GENERIC); err != nil {
		return nil, fmt.Errorf("lb/ipvs: %w: generic netlink family IPVS: %v", ErrNoIPVS, err)
	}
	b := &Backend{ns: netns.None(), lbAddr: lbAddr, obj: newNFTObjects()}
	ok := false
	defer func() {
		if !ok {
			b.release()
		}
	}()
	if nsPath != "" {
		ns, err := netns.GetFromPath(nsPath)
		if err != nil {
			return nil, fmt.Errorf("lb/ipvs: open namespace %s: %w", nsPath, err)
		}
		b.ns = ns
	}
	h, err := mobyipvs.New(nsPath)
	if err != nil {
		return nil, fmt.Errorf("lb/ipvs: IPVS handle in %q: %w", nsPath, err)
	}
	b.ipvs = h
	if err := writeSysctls(b.ns, lbSysctls); err != nil {
		return nil, err
	}
	if err := h.SetConfig(&mobyipvs.Config{TimeoutTCP: IdleTCPTimeout}); err != nil {
		return nil, ipvsErr("set the idle TCP connection timeout", err)
	}
	opts := []nftables.ConnOption{nftables.AsLasting()}
	if b.ns.IsOpen() {
		opts = append(opts, nftables.WithNetNSFd(int(b.ns)))
	}
	if b.nft, err = nftables.New(opts...); err != nil {
		return nil, nftErr("netlink connection", err)
	}
	nsFd := 0 // the caller's namespace
	if b.ns.IsOpen() {
		nsFd = int(b.ns)
	}
	if err := b.obj.ensure(b.nft, nsFd, lbAddr); err != nil {
		return nil, err
	}
	st, err := b.load()
	if err != nil {
		return nil, err
	}
	b.setState(st)
	ok = true
	return b, nil
}

// Name is the backend's name as `minsw lb inspect` shows it.
func (b *Backend) Name() string { return "ipvs" }

// Apply makes the kernel hold set (replacing each mark's VIP and backends)
// and no longer hold the marks in del. Only the differences reach the
// kernel: adding or removing one backend leaves the others' connections
// and counters alone. IPVS has no transactions; the nftables part is one.
func (b *Backend) Apply(set []lb.Service, del []uint32) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ipvs == nil {
		return errors.New("lb/ipvs: backend is closed")
	}
	change, err := desired(b.state, b.owner, set, del)
	if err != nil {
		return err
	}
	p := diff(b.state, change)
	if p.empty() {
		return nil
	}
	if err := b.exec(p); err != nil {
		if st, lerr := b.load(); lerr == nil {
			b.setState(st)
		}
		return err
	}
	commit(b.state, b.owner, change)
	return nil
}

// exec carries out p in the order its doc gives.
func (b *Backend) exec(p plan) error {
	for _, m := range p.NewServices {
		if err := b.ipvs.NewService(fwmarkService(m)); err != nil {
			if errors.Is(err, syscall.ENOENT) {
				return fmt.Errorf("lb/ipvs: add service FWM %d: kernel has no IPVS scheduler %q (module ip_vs_%s): %w",
					m, Scheduler, Scheduler, err)
			}
			return ipvsErr(fmt.Sprintf("add service FWM %d", m), err)
		}
	}
	for _, d := range p.AddDests {
		if err := b.ipvs.NewDestination(fwmarkService(d.Mark), destination(d.Addr, d.Weight)); err != nil {
			return ipvsErr(fmt.Sprintf("add %v to FWM %d", d.Addr, d.Mark), err)
		}
	}
	for _, d := range p.SetWeights {
		if err := b.ipvs.UpdateDestination(fwmarkService(d.Mark), destination(d.Addr, d.Weight)); err != nil {
			return ipvsErr(fmt.Sprintf("set weight %d of %v in FWM %d", d.Weight, d.Addr, d.Mark), err)
		}
	}
	for _, d := range p.DelDests {
		if err := b.ipvs.DelDestination(fwmarkService(d.Mark), destination(d.Addr, d.Weight)); err != nil {
			return ipvsErr(fmt.Sprintf("remove %v from FWM %d", d.Addr, d.Mark), err)
		}
	}
	if p.nftSplit() {
		if err := b.obj.queue(b.nft, p.DelVIPs, p.DelMarks, nil, nil); err != nil {
			return nftErr("remove VIPs", err)
		}
		if err := nftErr("remove VIPs", b.nft.Flush()); err != nil {
			return err
		}
		if err := b.obj.queue(b.nft, nil, nil, p.AddVIPs, p.AddMarks); err != nil {
			return nftErr("add VIPs", err)
		}
	} else if err := b.obj.queue(b.nft, p.DelVIPs, p.DelMarks, p.AddVIPs, p.AddMarks); err != nil {
		return nftErr("update VIPs", err)
	}
	if err := nftErr("update VIPs", b.nft.Flush()); err != nil {
		return err
	}
	for _, m := range p.DelServices {
		if err := b.ipvs.DelService(fwmarkService(m)); err != nil && !errors.Is(err, syscall.ESRCH) {
			return ipvsErr(fmt.Sprintf("remove service FWM %d", m), err)
		}
	}
	return nil
}

// Services reads back what the kernel holds: the IPVS fwmark services with
// their destinations, and each mark's VIP from the nftables map.
func (b *Backend) Services() ([]lb.Service, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ipvs == nil {
		return nil, errors.New("lb/ipvs: backend is closed")
	}
	st, err := b.load()
	if err != nil {
		return nil, err
	}
	b.setState(st)
	return services(st), nil
}

func (b *Backend) setState(st map[uint32]entry) {
	b.state, b.owner = st, vipOwners(st)
}

// load reads the kernel's state of every mark the backend owns.
func (b *Backend) load() (map[uint32]entry, error) {
	st := map[uint32]entry{}
	svcs, err := b.ipvs.GetServices()
	if err != nil {
		return nil, ipvsErr("list services", err)
	}
	for _, s := range svcs {
		if s.FWMark == 0 || s.AddressFamily != syscall.AF_INET {
			continue
		}
		dsts, err := b.ipvs.GetDestinations(s)
		if err != nil {
			return nil, ipvsErr(fmt.Sprintf("list destinations of FWM %d", s.FWMark), err)
		}
		e := entry{Service: true}
		for _, d := range dsts {
			a, ok := netip.AddrFromSlice(d.Address.To4())
			switch {
			case !ok:
			case d.Weight == 0:
				e.Draining = append(e.Draining, a)
			default:
				e.Backends = append(e.Backends, a)
			}
		}
		slices.SortFunc(e.Backends, netip.Addr.Compare)
		slices.SortFunc(e.Draining, netip.Addr.Compare)
		st[s.FWMark] = e
	}
	vips, marks, err := b.obj.read(b.nft)
	if err != nil {
		return nil, err
	}
	for m, vip := range vips {
		e := st[m]
		e.VIP = vip
		st[m] = e
	}
	for m := range marks {
		e := st[m]
		e.Snat = true
		st[m] = e
	}
	return st, nil
}

// Close removes every IPVS fwmark service of the namespace and the table
// TableName, then releases the backend's handles. The sysctls stay: they
// belong to the namespace, which its owner removes.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ipvs == nil {
		return nil
	}
	var errs []error
	if st, err := b.load(); err != nil {
		errs = append(errs, err)
	} else {
		for m, e := range st {
			if !e.Service {
				continue
			}
			if err := b.ipvs.DelService(fwmarkService(m)); err != nil && !errors.Is(err, syscall.ESRCH) {
				errs = append(errs, ipvsErr(fmt.Sprintf("remove service FWM %d", m), err))
			}
		}
	}
	b.nft.DelTable(b.obj.table)
	if err := b.nft.Flush(); err != nil && !errors.Is(err, syscall.ENOENT) {
		errs = append(errs, nftErr("remove table "+TableName, err))
	}
	b.release()
	return errors.Join(errs...)
}

// release closes the handles without touching the kernel's objects.
func (b *Backend) release() {
	if b.ipvs != nil {
		b.ipvs.Close()
		b.ipvs = nil
	}
	if b.nft != nil {
		_ = b.nft.CloseLasting()
		b.nft = nil
	}
	if b.ns.IsOpen() {
		_ = b.ns.Close()
		b.ns = netns.None()
	}
	b.state, b.owner = nil, nil
}

func fwmarkService(mark uint32) *mobyipvs.Service {
	return &mobyipvs.Service{FWMark: mark, AddressFamily: syscall.AF_INET, SchedName: Scheduler}
}

func destination(a netip.Addr, weight int) *mobyipvs.Destination {
	return &mobyipvs.Destination{Address: net.IP(a.AsSlice()), AddressFamily: syscall.AF_INET,
		ConnectionFlags: mobyipvs.ConnectionFlagMasq, Weight: weight}
}

// ipvsErr gives an IPVS netlink error its context.
func ipvsErr(what string, err error) error {
	return fmt.Errorf("lb/ipvs: %s: %w", what, err)
}
