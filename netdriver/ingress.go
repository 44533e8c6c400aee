package netdriver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"

	"github.com/minsw/minsw/netdriver/gwbridge"
	"github.com/minsw/minsw/netdriver/ingress"
	"github.com/minsw/minsw/netdriver/netns"
	"github.com/minsw/minsw/netdriver/overlay"
)

// IngressSbox is the routing mesh's namespace: the ingress network's lb
// namespace, with a second leg on the gateway bridge.
const IngressSbox = "ingress_sbox"

// ingressState is the routing mesh as this driver last programmed it.
type ingressState struct {
	netID string
	pubs  []ingress.Publish
	marks []ingress.PortMark
}

// IngressInfo is the routing mesh of this node as the kernel holds it.
type IngressInfo struct {
	SboxAddr netip.Prefix // on the gateway bridge
	// Published are the node's published ports and where it sends them
	// (the sbox for ingress mode, a local task for host mode).
	Published []ingress.Publish
	// Marks are the sbox's port -> service mark map.
	Marks []ingress.PortMark
}

func (d *Driver) egressSubnet() netip.Prefix {
	if d.cfg.Egress.Subnet.IsValid() {
		return d.cfg.Egress.Subnet.Masked()
	}
	return gwbridge.DefaultSubnet
}

func (d *Driver) egressName() string { return cmp.Or(d.cfg.Egress.Name, gwbridge.DefaultName) }

// IngressSboxAddr is ingress_sbox's address on the gateway bridge: the
// bridge subnet's second host (172.18.0.2), as Docker's. Callers handing
// out gateway-bridge addresses must keep it free.
func (d *Driver) IngressSboxAddr() netip.Prefix {
	sub := d.egressSubnet()
	return netip.PrefixFrom(sub.Addr().Next().Next(), sub.Bits())
}

// EnsureIngress makes the ingress network on this node (sandbox and vxlan
// as any overlay; its lb namespace named ingress_sbox, holding the node's
// ingress endpoint n.LBAddr) and gives ingress_sbox its leg on the gateway
// bridge. Calling it again repairs.
//
// Routing: the node DNATs a published port to the sbox's bridge address,
// so a client's packet enters the sbox on the bridge leg with the client's
// own source; the sbox's default route points back through that leg, so
// strict reverse-path filtering passes and replies (un-NATed by conntrack
// in the sbox, then in the node) retrace the path. Backends' replies come
// to the ingress endpoint, the SNAT source, on the ingress leg.
func (d *Driver) EnsureIngress(ctx context.Context, n Network) error {
	n.Ingress = true
	if err := d.EnsureNetwork(ctx, n); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	st, err := d.get(n.ID)
	if err != nil {
		return err
	}
	if d.gw == nil {
		gw, err := gwbridge.Ensure(d.underlay, d.cfg.Egress)
		if err != nil {
			return fmt.Errorf("netdriver: %w", err)
		}
		d.gw = gw
	}
	sbox := st.ov.LBPath()
	if err := d.gw.Attach(IngressSbox, sbox, d.IngressSboxAddr()); err != nil {
		return fmt.Errorf("netdriver: ingress_sbox gateway leg: %w", err)
	}
	err = netns.Do(sbox, func() error {
		// Loose reverse-path checks: the sbox routes to clients through
		// the bridge leg and to backends through the ingress leg; a
		// strict default inherited from the host must not drop either.
		for _, k := range []string{"all", "default", overlay.LBLinkName} {
			if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+k+"/rp_filter", []byte("2"), 0o644); err != nil {
				return fmt.Errorf("sysctl rp_filter: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("netdriver: ingress_sbox: %w", err)
	}
	// Loopback clients (curl 127.0.0.1:P) leave through the bridge with a
	// masqueraded source; the kernel refuses 127/8 off lo without this.
	err = netns.DoHandle(d.underlay, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/conf/"+d.egressName()+"/route_localnet", []byte("1"), 0o644)
	})
	if err != nil {
		return fmt.Errorf("netdriver: route_localnet on %s: %w", d.egressName(), err)
	}
	if d.ing == nil || d.ing.netID != n.ID {
		d.ing = &ingressState{netID: n.ID}
	}
	d.log.Info("ingress ready", "network", n.ID, "sbox", sbox, "sbox_addr", d.IngressSboxAddr(), "endpoint", n.LBAddr)
	return nil
}

// SetPublished makes the node publish exactly marks (through the routing
// mesh: the node sends the port to ingress_sbox, which marks it for its
// service) and host (straight to a local task). An ingress port wins over
// a host-mode port of the same number; the host one is reported.
func (d *Driver) SetPublished(ctx context.Context, marks []ingress.PortMark, host []ingress.Publish) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errClosed
	}
	var st *netState
	if d.ing != nil {
		st = d.nets[d.ing.netID]
	}
	if st == nil && len(marks) > 0 {
		return fmt.Errorf("netdriver: %w: no ingress network on this node for %d published ports", ErrNotFound, len(marks))
	}
	marks = slices.Clone(marks)
	pubs, clash := planPublished(d.IngressSboxAddr().Addr(), marks, host)
	slices.SortFunc(marks, func(a, b ingress.PortMark) int { return a.Compare(b.Port) })
	var errs []error
	for _, p := range clash {
		errs = append(errs, fmt.Errorf("netdriver: %w: host-mode port %v is published through the routing mesh already", ErrConflict, p))
	}
	if d.ing != nil && slices.Equal(d.ing.pubs, pubs) && slices.Equal(d.ing.marks, marks) {
		return errors.Join(errs...)
	}
	// The sbox marks first: the node must not steer a port to a sbox that
	// does not know it yet.
	if st != nil {
		if err := withFd(st.ov.LBPath(), func(fd int) error { return ingress.SetSboxTable(fd, d.IngressSboxAddr().Addr(), marks) }); err != nil {
			return fmt.Errorf("netdriver: %w", err)
		}
	}
	if err := ingress.SetNodeTable(int(d.underlay), d.egressName(), pubs); err != nil {
		return fmt.Errorf("netdriver: %w", err)
	}
	if d.ing == nil {
		d.ing = &ingressState{}
	}
	d.ing.pubs, d.ing.marks = pubs, slices.Clone(marks)
	return errors.Join(errs...)
}

// planPublished is the node table for marks and host ports: ingress ports
// go to the sbox on the same port; host ports that clash with one are
// left out and returned. It is pure.
func planPublished(sbox netip.Addr, marks []ingress.PortMark, host []ingress.Publish) (pubs []ingress.Publish, clash []ingress.Port) {
	taken := map[ingress.Port]bool{}
	for _, m := range marks {
		if taken[m.Port] {
			continue
		}
		taken[m.Port] = true
		pubs = append(pubs, ingress.Publish{Port: m.Port, To: netip.AddrPortFrom(sbox, m.Port.Port)})
	}
	for _, h := range host {
		if taken[h.Port] {
			clash = append(clash, h.Port)
			continue
		}
		taken[h.Port] = true
		pubs = append(pubs, h)
	}
	slices.SortFunc(pubs, func(a, b ingress.Publish) int { return a.Compare(b.Port) })
	return pubs, clash
}

// SetTaskRedirects makes a task's namespace map published ports arriving
// at its ingress address to their target ports (ports published on their
// own number need nothing; no redirects removes the table).
func (d *Driver) SetTaskRedirects(ctx context.Context, nsPath string, addr netip.Addr, rs []ingress.Redirect) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return withFd(nsPath, func(fd int) error { return ingress.SetRedirects(fd, addr, rs) })
}

// RemoveIngress takes the routing mesh off this node: the published
// ports, the sbox's gateway leg and the ingress network.
func (d *Driver) RemoveIngress(ctx context.Context, id string) error {
	d.mu.Lock()
	err := d.closeIngressLocked()
	d.mu.Unlock()
	return errors.Join(err, d.RemoveNetwork(ctx, id))
}

// closeIngressLocked deletes the node's table and the sbox's gateway leg.
func (d *Driver) closeIngressLocked() error {
	var errs []error
	if d.ing != nil || d.gw != nil {
		errs = append(errs, ingress.DeleteTable(int(d.underlay)))
	}
	if d.gw != nil {
		errs = append(errs, d.gw.Detach(IngressSbox))
	}
	d.ing = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("netdriver: remove ingress: %w", err)
	}
	return nil
}

func (d *Driver) inspectIngressLocked(st *netState) (IngressInfo, error) {
	in := IngressInfo{SboxAddr: d.IngressSboxAddr()}
	var errs []error
	var err error
	in.Published, err = ingress.NodePublished(int(d.underlay))
	errs = append(errs, err)
	errs = append(errs, withFd(st.ov.LBPath(), func(fd int) error {
		var err error
		in.Marks, err = ingress.SboxMarks(fd)
		return err
	}))
	return in, errors.Join(errs...)
}

func withFd(path string, fn func(fd int) error) error {
	h, err := netns.Open(path)
	if err != nil {
		return err
	}
	defer h.Close()
	return fn(int(h))
}
