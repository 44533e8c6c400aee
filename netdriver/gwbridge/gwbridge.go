// Package gwbridge gives containers an egress path, as docker_gwbridge does:
// a bridge in the node's own namespace (172.18.0.0/16 by default), a veth
// leg per container with the default route, and masquerade of the bridge's
// subnet towards every other interface (table ip minsw_gw). Containers on
// the bridge cannot talk to each other through it; they meet on overlays.
// It must not touch overlay namespaces.
package gwbridge

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"os"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/minsw/minsw/netdriver/netns"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Defaults, as Docker's docker_gwbridge.
const DefaultName = "minsw_gwbridge"

// DefaultSubnet is docker_gwbridge's usual subnet.
var DefaultSubnet = netip.MustParsePrefix("172.18.0.0/16")

// TableName is the nftables table in the node's namespace.
const TableName = "minsw_gw"

// Config names the bridge and its subnet; the gateway is the first address.
type Config struct {
	Name   string
	Subnet netip.Prefix
	MTU    int
}

// Gateway is the bridge's own address.
func (c Config) Gateway() netip.Prefix {
	return netip.PrefixFrom(c.Subnet.Masked().Addr().Next(), c.Subnet.Bits())
}

// Bridge is the egress bridge in one (node) namespace.
type Bridge struct {
	cfg Config
	ns  vnetns.NsHandle
}

// Ensure creates or repairs the bridge, its address, forwarding and the
// masquerade table in the namespace ns (the node's).
func Ensure(ns vnetns.NsHandle, cfg Config) (*Bridge, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if !cfg.Subnet.IsValid() {
		cfg.Subnet = DefaultSubnet
	}
	if !cfg.Subnet.Addr().Is4() || cfg.Subnet.Bits() > 30 || len(cfg.Name) > 15 {
		return nil, fmt.Errorf("gwbridge: bad config %q %v", cfg.Name, cfg.Subnet)
	}
	cfg.Subnet = cfg.Subnet.Masked()
	b := &Bridge{cfg: cfg, ns: ns}
	err := b.handle(func(h *netlink.Handle) error {
		br, err := h.LinkByName(cfg.Name)
		if err != nil {
			la := netlink.NewLinkAttrs()
			la.Name = cfg.Name
			if cfg.MTU > 0 {
				la.MTU = cfg.MTU
			}
			if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: la}); err != nil {
				return fmt.Errorf("create %s: %w", cfg.Name, err)
			}
			if br, err = h.LinkByName(cfg.Name); err != nil {
				return err
			}
		}
		gw := cfg.Gateway()
		if err := h.AddrReplace(br, &netlink.Addr{IPNet: &net.IPNet{IP: gw.Addr().AsSlice(), Mask: net.CIDRMask(gw.Bits(), 32)}}); err != nil {
			return fmt.Errorf("address %v on %s: %w", gw, cfg.Name, err)
		}
		return h.LinkSetUp(br)
	})
	if err != nil {
		return nil, fmt.Errorf("gwbridge: %w", err)
	}
	err = netns.DoHandle(ns, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644)
	})
	if err != nil {
		return nil, fmt.Errorf("gwbridge: sysctl net.ipv4.ip_forward=1: %w", err)
	}
	if err := b.program(); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Bridge) handle(fn func(h *netlink.Handle) error) error {
	return netns.WithNsHandle(b.ns, fn)
}

func ifname(s string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, s)
	return b
}

// program (re)writes table ip minsw_gw:
//
//	chain postrouting (nat, srcnat): ip saddr <subnet> oifname != <bridge> masquerade
//	                                 iifname <bridge> oifname <bridge> ct status dnat masquerade
//	chain forward (filter): iifname <bridge> oifname <bridge> ct status dnat accept
//	                        iifname <bridge> oifname <bridge> drop
func (b *Bridge) program() error {
	c, err := nftables.New(nftables.WithNetNSFd(int(b.ns)))
	if err != nil {
		return fmt.Errorf("gwbridge: nftables: %w", err)
	}
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName}
	c.AddTable(t)
	c.FlushTable(t)
	accept := nftables.ChainPolicyAccept
	post := c.AddChain(&nftables.Chain{Table: t, Name: "postrouting", Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource, Policy: &accept})
	fwd := c.AddChain(&nftables.Chain{Table: t, Name: "forward", Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	net4 := b.cfg.Subnet.Addr().As4()
	mask := net.CIDRMask(b.cfg.Subnet.Bits(), 32)
	c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: net4[:]},
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname(b.cfg.Name)},
		&expr.Masq{},
	}})
	// A container reaching a published port through a node address is
	// DNATed to ingress_sbox's leg on this same bridge (a routed hairpin):
	// let it through, and masquerade it so the reply comes back through the
	// node, which undoes the DNAT. Plain container-to-container traffic on
	// the bridge stays dropped.
	c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: append(hairpin(b.cfg.Name), &expr.Masq{})})
	c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: append(hairpin(b.cfg.Name), &expr.Verdict{Kind: expr.VerdictAccept})})
	c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(b.cfg.Name)},
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(b.cfg.Name)},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("gwbridge: table ip %s: %w", TableName, err)
	}
	return nil
}

// ipsDstNAT is the conntrack status bit of a destination-NATed connection.
const ipsDstNAT = 1 << 5

// hairpin matches traffic routed from the bridge back onto it whose
// destination was rewritten (a published port reached via a node address).
func hairpin(bridge string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(bridge)},
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(bridge)},
		&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 0, 0, 0}},
	}
}

// VethName is the bridge side of a container's egress veth.
func VethName(containerID string) string {
	h := fnv.New32a()
	h.Write([]byte(containerID))
	return fmt.Sprintf("gw%08x", h.Sum32())
}

// Attach gives the container at nsPath an interface on the bridge with
// addr, and its default route via the bridge. Attaching again repairs.
func (b *Bridge) Attach(containerID, nsPath string, addr netip.Prefix) error {
	if !b.cfg.Subnet.Contains(addr.Addr()) {
		return fmt.Errorf("gwbridge: %v outside %v", addr, b.cfg.Subnet)
	}
	addr = netip.PrefixFrom(addr.Addr(), b.cfg.Subnet.Bits())
	cns, err := netns.Open(nsPath)
	if err != nil {
		return err
	}
	defer cns.Close()
	host := VethName(containerID)
	return netns.WithNsHandle(cns, func(ch *netlink.Handle) error { return b.attach(ch, cns, containerID, host, addr) })
}

// attach is Attach with a handle ch in the container's namespace cns.
func (b *Bridge) attach(ch *netlink.Handle, cns vnetns.NsHandle, containerID, host string, addr netip.Prefix) error {
	return b.handle(func(h *netlink.Handle) error {
		br, err := h.LinkByName(b.cfg.Name)
		if err != nil {
			return fmt.Errorf("gwbridge: %w", err)
		}
		l, err := h.LinkByName(host)
		var in netlink.Link
		if err == nil {
			in, err = ch.LinkByIndex(l.Attrs().ParentIndex)
		}
		if err != nil {
			if l != nil {
				h.LinkDel(l)
			}
			name := ""
			for i := 0; ; i++ {
				name = fmt.Sprintf("eth%d", i)
				if _, err := ch.LinkByName(name); err != nil {
					break
				}
			}
			la := netlink.NewLinkAttrs()
			la.Name = host
			la.Alias = containerID
			if b.cfg.MTU > 0 {
				la.MTU = b.cfg.MTU
			}
			if err := h.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: name, PeerNamespace: netlink.NsFd(int(cns))}); err != nil {
				return fmt.Errorf("gwbridge: veth for %s: %w", containerID, err)
			}
			if l, err = h.LinkByName(host); err != nil {
				return err
			}
			if in, err = ch.LinkByName(name); err != nil {
				return err
			}
		}
		if err := h.LinkSetMaster(l, br); err != nil {
			return err
		}
		if err := h.LinkSetUp(l); err != nil {
			return err
		}
		if err := ch.AddrReplace(in, &netlink.Addr{IPNet: &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), 32)}}); err != nil {
			return fmt.Errorf("gwbridge: address %v: %w", addr, err)
		}
		if err := ch.LinkSetUp(in); err != nil {
			return err
		}
		if lo, err := ch.LinkByName("lo"); err == nil {
			ch.LinkSetUp(lo)
		}
		return ch.RouteReplace(&netlink.Route{LinkIndex: in.Attrs().Index, Gw: b.cfg.Gateway().Addr().AsSlice(),
			Dst: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}})
	})
}

// Detach deletes the container's egress veth; a missing one is no error.
func (b *Bridge) Detach(containerID string) error {
	return b.handle(func(h *netlink.Handle) error {
		l, err := h.LinkByName(VethName(containerID))
		if err != nil {
			return nil
		}
		return h.LinkDel(l)
	})
}

// Remove deletes the bridge, every veth on it and the masquerade table.
func (b *Bridge) Remove() error {
	var errs []error
	errs = append(errs, b.handle(func(h *netlink.Handle) error {
		br, err := h.LinkByName(b.cfg.Name)
		if err != nil {
			return nil
		}
		links, err := h.LinkList()
		if err != nil {
			return err
		}
		for _, l := range links {
			if l.Attrs().MasterIndex == br.Attrs().Index {
				h.LinkDel(l)
			}
		}
		return h.LinkDel(br)
	}))
	c, err := nftables.New(nftables.WithNetNSFd(int(b.ns)))
	if err == nil {
		c.DelTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName})
		if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, err)
		}
	} else {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("gwbridge: remove: %w", err)
	}
	return nil
}
