// Package overlay builds one node's part of a VXLAN overlay network out of
// kernel objects, as Docker's overlay driver lays them out: the sandbox
// namespace 1-<id> with br0 and vxlan0, the lb_<id> namespace with the
// node's lb endpoint and the VIP addresses, a veth per local endpoint, and
// the static neighbour and fdb entries for remote peers. It must not touch
// nftables or IPVS; the lb backends program those.
package overlay

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/minsw/minsw/netdriver/netns"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Names of the links this package makes inside its namespaces.
const (
	BridgeName = "br0"
	VxlanName  = "vxlan0"
	LBLinkName = "eth0"
	// lbVethName is the bridge side of the lb namespace's eth0.
	lbVethName = "veth-lb"
	// VXLANPort is the IANA port Docker uses too.
	VXLANPort = 4789
	// DefaultMTU leaves room for the 50 bytes of VXLAN encapsulation.
	DefaultMTU = 1450
)

// Config is one overlay network as this node builds it.
type Config struct {
	ID      string
	VNI     uint32
	Gateway netip.Prefix // bridge address and subnet length, 10.0.1.1/24
	VTEP    netip.Addr   // this node's underlay address: vxlan local
	LBAddr  netip.Prefix // this node's lb endpoint; zero means no lb namespace
	MTU     int          // 0 means DefaultMTU
	// LBName names the lb namespace; "" is lb_<id>. The ingress network's
	// is ingress_sbox, as Docker's.
	LBName string
}

// Validate reports the first malformed field of c.
func (c Config) Validate() error {
	switch {
	case c.ID == "":
		return errors.New("overlay: network has no id")
	case c.VNI == 0 || c.VNI >= 1<<24:
		return fmt.Errorf("overlay: network %s: VNI %d out of range 1..16777215", c.ID, c.VNI)
	case !c.Gateway.IsValid() || !c.Gateway.Addr().Is4():
		return fmt.Errorf("overlay: network %s: gateway %v is not an IPv4 prefix", c.ID, c.Gateway)
	case !c.VTEP.Is4():
		return fmt.Errorf("overlay: network %s: VTEP %v is not an IPv4 address", c.ID, c.VTEP)
	case c.LBAddr.IsValid() && !c.LBAddr.Addr().Is4():
		return fmt.Errorf("overlay: network %s: lb address %v is not IPv4", c.ID, c.LBAddr)
	}
	return nil
}

func (c Config) mtu() int {
	if c.MTU > 0 {
		return c.MTU
	}
	return DefaultMTU
}

// MACFromIP derives a MAC from an IPv4 address as Docker does:
// 02:42 and the four address bytes (02:42:0a:00:01:25 for 10.0.1.37).
func MACFromIP(ip netip.Addr) net.HardwareAddr {
	b := ip.As4()
	return net.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}
}

// VxlanTempName is the name vxlan0 carries in the underlay namespace between
// its creation there and its move into the sandbox, as Docker's
// "vx-<vni>-<id>"; a crash can leave one behind, which Ensure deletes.
func VxlanTempName(vni uint32, netID string) string {
	id := netID
	if len(id) > 5 {
		id = id[:5]
	}
	return fmt.Sprintf("vx-%06x-%s", vni, id)
}

// IsVxlanTempName reports whether a link name looks like VxlanTempName.
func IsVxlanTempName(name string) bool {
	return strings.HasPrefix(name, "vx-") && len(name) > 10 && name[9] == '-'
}

// Network is a handle on one overlay network's namespaces on this node.
type Network struct {
	cfg      Config
	dir      string
	underlay vnetns.NsHandle
}

// SandboxPath is the 1-<id> namespace file.
func (n *Network) SandboxPath() string { return filepath.Join(n.dir, netns.SandboxName(n.cfg.ID)) }

// LBPath is the lb_<id> namespace file ("" when the network has no lb).
func (n *Network) LBPath() string {
	if !n.cfg.LBAddr.IsValid() {
		return ""
	}
	return filepath.Join(n.dir, n.lbName())
}

func (n *Network) lbName() string {
	if n.cfg.LBName != "" {
		return n.cfg.LBName
	}
	return netns.LBName(n.cfg.ID)
}

// Config returns what the network was ensured with.
func (n *Network) Config() Config { return n.cfg }

// Open returns a handle for a network without touching the kernel.
func Open(dir string, underlay vnetns.NsHandle, cfg Config) *Network {
	return &Network{cfg: cfg, dir: dir, underlay: underlay}
}

// Ensure creates what is missing of the network and repairs what differs,
// so it is safe to call again, and after a crash. underlay is the namespace
// whose UDP socket vxlan0 uses (the node's own).
func Ensure(dir string, underlay vnetns.NsHandle, cfg Config) (*Network, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := Open(dir, underlay, cfg)
	if err := n.ensureSandbox(); err != nil {
		return nil, fmt.Errorf("overlay: network %s: %w", cfg.ID, err)
	}
	if cfg.LBAddr.IsValid() {
		if err := n.ensureLB(); err != nil {
			return nil, fmt.Errorf("overlay: network %s: lb namespace: %w", cfg.ID, err)
		}
	}
	return n, nil
}

func ensureNetns(path string) error {
	if netns.IsNetns(path) {
		return nil
	}
	_, err := netns.Create(filepath.Dir(path), filepath.Base(path))
	return err
}

func (n *Network) ensureSandbox() error {
	path := n.SandboxPath()
	if err := ensureNetns(path); err != nil {
		return err
	}
	return netns.WithHandle(path, func(h *netlink.Handle) error {
		if err := linkUp(h, "lo"); err != nil {
			return err
		}
		br, err := n.ensureBridge(h)
		if err != nil {
			return err
		}
		return n.ensureVxlan(h, br, path)
	})
}

func linkUp(h *netlink.Handle, name string) error {
	l, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}

func (n *Network) ensureBridge(h *netlink.Handle) (netlink.Link, error) {
	br, err := h.LinkByName(BridgeName)
	if err != nil {
		if !isNotFound(err) {
			return nil, fmt.Errorf("link %s: %w", BridgeName, err)
		}
		la := netlink.NewLinkAttrs()
		la.Name = BridgeName
		la.MTU = n.cfg.mtu()
		if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: la}); err != nil {
			return nil, fmt.Errorf("create %s: %w", BridgeName, missingFeature(err, "bridge (CONFIG_BRIDGE)"))
		}
		if br, err = h.LinkByName(BridgeName); err != nil {
			return nil, fmt.Errorf("link %s: %w", BridgeName, err)
		}
	}
	if _, ok := br.(*netlink.Bridge); !ok {
		return nil, fmt.Errorf("%s exists but is a %s, not a bridge", BridgeName, br.Type())
	}
	if err := setAddrs(h, br, []netip.Prefix{n.cfg.Gateway}, nil); err != nil {
		return nil, err
	}
	if err := h.LinkSetUp(br); err != nil {
		return nil, fmt.Errorf("set %s up: %w", BridgeName, err)
	}
	return br, nil
}

func (n *Network) ensureVxlan(h *netlink.Handle, br netlink.Link, sandbox string) error {
	if l, err := h.LinkByName(VxlanName); err == nil {
		vx, ok := l.(*netlink.Vxlan)
		if ok && vx.VxlanId == int(n.cfg.VNI) && vx.SrcAddr.Equal(net.IP(n.cfg.VTEP.AsSlice())) && !vx.Learning {
			if vx.MasterIndex != br.Attrs().Index {
				if err := h.LinkSetMaster(vx, br); err != nil {
					return fmt.Errorf("enslave %s: %w", VxlanName, err)
				}
			}
			return h.LinkSetUp(vx)
		}
		// Left by an earlier run with another VNI or VTEP: rebuild it.
		if err := h.LinkDel(l); err != nil {
			return fmt.Errorf("delete stale %s: %w", VxlanName, err)
		}
	} else if !isNotFound(err) {
		return fmt.Errorf("link %s: %w", VxlanName, err)
	}

	tmp := VxlanTempName(n.cfg.VNI, n.cfg.ID)
	sbFd, err := netns.Open(sandbox)
	if err != nil {
		return err
	}
	defer sbFd.Close()
	// vxlan0 is made in the underlay namespace so that its UDP socket is
	// bound there, then moved into the sandbox.
	err = netns.WithNsHandle(n.underlay, func(u *netlink.Handle) error {
		if stale, err := u.LinkByName(tmp); err == nil {
			if err := u.LinkDel(stale); err != nil {
				return fmt.Errorf("delete stale %s: %w", tmp, err)
			}
		}
		la := netlink.NewLinkAttrs()
		la.Name = tmp
		la.MTU = n.cfg.mtu()
		vx := &netlink.Vxlan{
			LinkAttrs: la,
			VxlanId:   int(n.cfg.VNI),
			SrcAddr:   net.IP(n.cfg.VTEP.AsSlice()),
			Port:      VXLANPort,
			Learning:  false,
			Proxy:     true,
		}
		if err := u.LinkAdd(vx); err != nil {
			if errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("create vxlan VNI %d: a VXLAN device with this VNI and port already exists on the node: %w", n.cfg.VNI, err)
			}
			return fmt.Errorf("create vxlan VNI %d: %w", n.cfg.VNI, missingFeature(err, "vxlan (CONFIG_VXLAN)"))
		}
		l, err := u.LinkByName(tmp)
		if err != nil {
			return fmt.Errorf("link %s: %w", tmp, err)
		}
		if err := u.LinkSetNsFd(l, int(sbFd)); err != nil {
			u.LinkDel(l)
			return fmt.Errorf("move %s into sandbox: %w", tmp, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	l, err := h.LinkByName(tmp)
	if err != nil {
		return fmt.Errorf("link %s in sandbox: %w", tmp, err)
	}
	if err := h.LinkSetName(l, VxlanName); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	if err := h.LinkSetMaster(l, br); err != nil {
		return fmt.Errorf("enslave %s: %w", VxlanName, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", VxlanName, err)
	}
	return nil
}

func (n *Network) ensureLB() error {
	lbPath := n.LBPath()
	if err := ensureNetns(lbPath); err != nil {
		return err
	}
	ep := Endpoint{
		ContainerID: "lb-" + n.cfg.ID,
		NetnsPath:   lbPath,
		Addr:        netip.PrefixFrom(n.cfg.LBAddr.Addr(), n.cfg.Gateway.Bits()),
		IfName:      LBLinkName,
		hostName:    lbVethName,
		// The VIPs are SetVIPs' business.
		keepAddr: func(p netip.Prefix) bool { return p.Bits() == 32 },
	}
	if err := n.Attach(ep); err != nil {
		return err
	}
	// The lb receives and forwards on one interface: forward, and do not
	// tell clients to go straight to the backend.
	return netns.Do(lbPath, func() error {
		for _, kv := range [][2]string{
			{"net/ipv4/ip_forward", "1"},
			{"net/ipv4/conf/all/send_redirects", "0"},
			{"net/ipv4/conf/default/send_redirects", "0"},
			{"net/ipv4/conf/" + LBLinkName + "/send_redirects", "0"},
		} {
			if err := writeSysctl(kv[0], kv[1]); err != nil {
				return err
			}
		}
		return nil
	})
}

func writeSysctl(key, val string) error {
	if err := os.WriteFile("/proc/sys/"+key, []byte(val), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", strings.ReplaceAll(key, "/", "."), val, err)
	}
	return nil
}

// SetVIPs makes the /32 addresses on the lb namespace's eth0 exactly vips
// (plus the lb endpoint address itself).
func (n *Network) SetVIPs(vips []netip.Addr) error {
	if !n.cfg.LBAddr.IsValid() {
		if len(vips) > 0 {
			return fmt.Errorf("overlay: network %s has no lb namespace for VIPs", n.cfg.ID)
		}
		return nil
	}
	want := []netip.Prefix{netip.PrefixFrom(n.cfg.LBAddr.Addr(), n.cfg.Gateway.Bits())}
	for _, v := range vips {
		if v == n.cfg.LBAddr.Addr() {
			continue
		}
		want = append(want, netip.PrefixFrom(v, 32))
	}
	return netns.WithHandle(n.LBPath(), func(h *netlink.Handle) error {
		l, err := h.LinkByName(LBLinkName)
		if err != nil {
			return fmt.Errorf("overlay: network %s: lb %s: %w", n.cfg.ID, LBLinkName, err)
		}
		have, err := h.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			return fmt.Errorf("overlay: network %s: lb addresses: %w", n.cfg.ID, err)
		}
		wanted := make(map[netip.Prefix]bool, len(want))
		for _, p := range want {
			wanted[p] = true
		}
		present := make(map[netip.Prefix]bool, len(have))
		var add, del []netip.Prefix
		for _, a := range have {
			ip, _ := netip.AddrFromSlice(a.IP.To4())
			ones, _ := a.Mask.Size()
			p := netip.PrefixFrom(ip, ones)
			present[p] = true
			if !wanted[p] {
				del = append(del, p)
			}
		}
		for _, p := range want {
			if !present[p] {
				add = append(add, p)
			}
		}
		if len(add) == 0 && len(del) == 0 {
			return nil
		}
		if err := batchAddrs(n.LBPath(), l.Attrs().Index, add, del); err != nil {
			return fmt.Errorf("overlay: network %s: VIPs: %w", n.cfg.ID, err)
		}
		return nil
	})
}

// VIPs lists the /32 addresses on the lb namespace's eth0.
func (n *Network) VIPs() ([]netip.Addr, error) {
	if !n.cfg.LBAddr.IsValid() {
		return nil, nil
	}
	var out []netip.Addr
	err := netns.WithHandle(n.LBPath(), func(h *netlink.Handle) error {
		l, err := h.LinkByName(LBLinkName)
		if err != nil {
			return err
		}
		addrs, err := h.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if ones, _ := a.Mask.Size(); ones == 32 {
				if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok {
					out = append(out, ip)
				}
			}
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out, err
}

// setAddrs makes the IPv4 addresses of l exactly want, leaving alone those
// keep accepts (nil keeps none).
func setAddrs(h *netlink.Handle, l netlink.Link, want []netip.Prefix, keep func(netip.Prefix) bool) error {
	have, err := h.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", l.Attrs().Name, err)
	}
	wanted := make(map[netip.Prefix]bool, len(want))
	for _, p := range want {
		wanted[p] = true
	}
	present := make(map[netip.Prefix]bool, len(have))
	for _, a := range have {
		ip, _ := netip.AddrFromSlice(a.IP.To4())
		ones, _ := a.Mask.Size()
		p := netip.PrefixFrom(ip, ones)
		if wanted[p] {
			present[p] = true
			continue
		}
		if keep != nil && keep(p) {
			continue
		}
		if err := h.AddrDel(l, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("delete %v from %s: %w", p, l.Attrs().Name, err)
		}
	}
	for _, p := range want {
		if present[p] {
			continue
		}
		if err := h.AddrReplace(l, toAddr(p)); err != nil {
			return fmt.Errorf("add %v to %s: %w", p, l.Attrs().Name, err)
		}
	}
	return nil
}

func toAddr(p netip.Prefix) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{
		IP:   net.IP(p.Addr().AsSlice()),
		Mask: net.CIDRMask(p.Bits(), 32),
	}}
}

// Remove deletes everything Ensure and Attach made for the network: links
// first (so a VNI is free again at once, not when the namespace dies), then
// the namespace files. Missing pieces are skipped.
func (n *Network) Remove() error {
	var errs []error
	sb := n.SandboxPath()
	if netns.IsNetns(sb) {
		err := netns.WithHandle(sb, func(h *netlink.Handle) error {
			links, err := h.LinkList()
			if err != nil {
				return err
			}
			for _, l := range links {
				if l.Attrs().Name == "lo" {
					continue
				}
				if err := h.LinkDel(l); err != nil && !isNotFound(err) {
					errs = append(errs, fmt.Errorf("delete %s: %w", l.Attrs().Name, err))
				}
			}
			return nil
		})
		errs = append(errs, err)
	}
	errs = append(errs, netns.Delete(sb))
	errs = append(errs, netns.Delete(filepath.Join(n.dir, n.lbName())))
	// A temporary vxlan left in the underlay by a crash mid-create.
	errs = append(errs, netns.WithNsHandle(n.underlay, func(u *netlink.Handle) error {
		if l, err := u.LinkByName(VxlanTempName(n.cfg.VNI, n.cfg.ID)); err == nil {
			return u.LinkDel(l)
		}
		return nil
	}))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("overlay: remove network %s: %w", n.cfg.ID, err)
	}
	return nil
}

// Endpoint is one interface on the network's bridge, inside another
// namespace (a container's, or the lb's).
type Endpoint struct {
	ContainerID  string
	NetnsPath    string
	Addr         netip.Prefix // IP and subnet length, 10.0.1.31/24
	IfName       string       // name inside the namespace; "" picks the first free ethN
	DefaultRoute bool         // route 0.0.0.0/0 via the network's gateway
	hostName     string       // bridge-side name override
	keepAddr     func(netip.Prefix) bool
}

// VethName is the bridge side of an endpoint's veth inside the sandbox:
// "veth" and 8 hex digits of a hash of the container id, so Detach finds it
// after a restart without any state.
func VethName(containerID string) string {
	h := fnv.New32a()
	h.Write([]byte(containerID))
	return fmt.Sprintf("veth%08x", h.Sum32())
}

// Attach puts a veth between the network's bridge and ep's namespace, with
// ep.Addr and the MAC derived from it. Attaching again repairs and reuses.
func (n *Network) Attach(ep Endpoint) error {
	if !ep.Addr.IsValid() || !ep.Addr.Addr().Is4() {
		return fmt.Errorf("overlay: endpoint %s: address %v is not an IPv4 prefix", ep.ContainerID, ep.Addr)
	}
	if ep.ContainerID == "" || ep.NetnsPath == "" {
		return errors.New("overlay: endpoint needs a container id and a namespace path")
	}
	hostName := ep.hostName
	if hostName == "" {
		hostName = VethName(ep.ContainerID)
	}
	cns, err := netns.Open(ep.NetnsPath)
	if err != nil {
		return fmt.Errorf("overlay: endpoint %s: %w", ep.ContainerID, err)
	}
	defer cns.Close()
	mtu := n.cfg.mtu()
	mac := MACFromIP(ep.Addr.Addr())

	return netns.WithHandle(n.SandboxPath(), func(h *netlink.Handle) error {
		br, err := h.LinkByName(BridgeName)
		if err != nil {
			return fmt.Errorf("overlay: network %s not ensured: %w", n.cfg.ID, err)
		}
		return netns.WithNsHandle(cns, func(c *netlink.Handle) error {
			ifName, err := n.endpointIfName(h, c, hostName, ep.IfName)
			if err != nil {
				return err
			}
			host, err := h.LinkByName(hostName)
			if err != nil {
				la := netlink.NewLinkAttrs()
				la.Name = hostName
				la.MTU = mtu
				la.Alias = ep.ContainerID
				veth := &netlink.Veth{
					LinkAttrs:        la,
					PeerName:         ifName,
					PeerHardwareAddr: mac,
					PeerNamespace:    netlink.NsFd(int(cns)),
					PeerMTU:          uint32(mtu),
				}
				if err := h.LinkAdd(veth); err != nil {
					return fmt.Errorf("overlay: endpoint %s: create veth: %w", ep.ContainerID, missingFeature(err, "veth (CONFIG_VETH)"))
				}
				if host, err = h.LinkByName(hostName); err != nil {
					return err
				}
			}
			if err := h.LinkSetAlias(host, ep.ContainerID); err != nil {
				return err
			}
			if err := h.LinkSetMaster(host, br); err != nil {
				return fmt.Errorf("overlay: endpoint %s: enslave %s: %w", ep.ContainerID, hostName, err)
			}
			if err := h.LinkSetUp(host); err != nil {
				return err
			}
			// Inside the endpoint's namespace.
			if err := linkUp(c, "lo"); err != nil {
				return err
			}
			in, err := c.LinkByName(ifName)
			if err != nil {
				return fmt.Errorf("overlay: endpoint %s: %w", ep.ContainerID, err)
			}
			if in.Attrs().HardwareAddr.String() != mac.String() {
				if err := c.LinkSetHardwareAddr(in, mac); err != nil {
					return err
				}
			}
			if err := setAddrs(c, in, []netip.Prefix{ep.Addr}, ep.keepAddr); err != nil {
				return err
			}
			if err := c.LinkSetUp(in); err != nil {
				return err
			}
			if ep.DefaultRoute {
				r := &netlink.Route{
					LinkIndex: in.Attrs().Index,
					Gw:        net.IP(n.cfg.Gateway.Addr().AsSlice()),
					Dst:       &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
				}
				if err := c.RouteReplace(r); err != nil {
					return fmt.Errorf("overlay: endpoint %s: default route: %w", ep.ContainerID, err)
				}
			}
			return nil
		})
	})
}

// endpointIfName finds the interface the endpoint already has (the veth
// peer of hostName) or the name a new one gets.
func (n *Network) endpointIfName(h, c *netlink.Handle, hostName, want string) (string, error) {
	if host, err := h.LinkByName(hostName); err == nil {
		// An existing veth: its peer index names the interface inside.
		if peer, err := c.LinkByIndex(host.Attrs().ParentIndex); err == nil {
			return peer.Attrs().Name, nil
		}
		// Peer not in that namespace (the container was recreated):
		// drop the orphan and start afresh.
		h.LinkDel(host)
	}
	if want != "" {
		return want, nil
	}
	for i := 0; ; i++ {
		name := fmt.Sprintf("eth%d", i)
		if _, err := c.LinkByName(name); err != nil {
			return name, nil
		}
	}
}

// Detach deletes the endpoint's veth; its peer in the container goes too.
func (n *Network) Detach(containerID string) error {
	if !netns.IsNetns(n.SandboxPath()) {
		return nil
	}
	return netns.WithHandle(n.SandboxPath(), func(h *netlink.Handle) error {
		l, err := h.LinkByName(VethName(containerID))
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := h.LinkDel(l); err != nil && !isNotFound(err) {
			return fmt.Errorf("overlay: detach %s: %w", containerID, err)
		}
		return nil
	})
}

// Endpoints lists the container ids attached (lb endpoint excluded), read
// from the veth aliases.
func (n *Network) Endpoints() ([]string, error) {
	var out []string
	err := netns.WithHandle(n.SandboxPath(), func(h *netlink.Handle) error {
		links, err := h.LinkList()
		if err != nil {
			return err
		}
		for _, l := range links {
			if _, ok := l.(*netlink.Veth); ok && l.Attrs().Name != lbVethName && l.Attrs().Alias != "" {
				out = append(out, l.Attrs().Alias)
			}
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// Peer is a remote endpoint reachable through vxlan0.
type Peer struct {
	Addr netip.Addr
	MAC  net.HardwareAddr
	VTEP netip.Addr
}

// SetPeers makes vxlan0's static neighbours and fdb entries exactly peers:
// neigh <ip> lladdr <mac> nud permanent, fdb <mac> dst <VTEP> self permanent.
func (n *Network) SetPeers(peers []Peer) error {
	for _, p := range peers {
		if !p.Addr.Is4() || !p.VTEP.Is4() || len(p.MAC) != 6 {
			return fmt.Errorf("overlay: network %s: malformed peer %v/%v/%v", n.cfg.ID, p.Addr, p.MAC, p.VTEP)
		}
	}
	return netns.WithHandle(n.SandboxPath(), func(h *netlink.Handle) error {
		vx, err := h.LinkByName(VxlanName)
		if err != nil {
			return fmt.Errorf("overlay: network %s: %w", n.cfg.ID, err)
		}
		idx := vx.Attrs().Index
		neighs, fdbs, err := listPeers(h, idx)
		if err != nil {
			return err
		}
		wantNeigh := map[netip.Addr]string{}
		wantFDB := map[string]netip.Addr{}
		for _, p := range peers {
			wantNeigh[p.Addr] = p.MAC.String()
			wantFDB[p.MAC.String()] = p.VTEP
		}
		// Delete what is stale first, so a MAC that moved is re-pointed.
		for ip, mac := range neighs {
			if wantNeigh[ip] != mac {
				h.NeighDel(&netlink.Neigh{LinkIndex: idx, Family: netlink.FAMILY_V4, IP: net.IP(ip.AsSlice())})
			}
		}
		for mac, vtep := range fdbs {
			if w, ok := wantFDB[mac]; !ok || w != vtep {
				hw, _ := net.ParseMAC(mac)
				h.NeighDel(&netlink.Neigh{LinkIndex: idx, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF,
					HardwareAddr: hw, IP: net.IP(vtep.AsSlice())})
			}
		}
		for _, p := range peers {
			if neighs[p.Addr] != p.MAC.String() {
				if err := h.NeighSet(&netlink.Neigh{LinkIndex: idx, Family: netlink.FAMILY_V4,
					State: netlink.NUD_PERMANENT, IP: net.IP(p.Addr.AsSlice()), HardwareAddr: p.MAC}); err != nil {
					return fmt.Errorf("overlay: network %s: neigh %v: %w", n.cfg.ID, p.Addr, err)
				}
			}
			if v, ok := fdbs[p.MAC.String()]; !ok || v != p.VTEP {
				if err := h.NeighSet(&netlink.Neigh{LinkIndex: idx, Family: unix.AF_BRIDGE,
					State: netlink.NUD_PERMANENT, Flags: netlink.NTF_SELF,
					IP: net.IP(p.VTEP.AsSlice()), HardwareAddr: p.MAC}); err != nil {
					return fmt.Errorf("overlay: network %s: fdb %v: %w", n.cfg.ID, p.MAC, err)
				}
			}
		}
		return nil
	})
}

// Peers reads back vxlan0's static peers, sorted by address.
func (n *Network) Peers() ([]Peer, error) {
	var out []Peer
	err := netns.WithHandle(n.SandboxPath(), func(h *netlink.Handle) error {
		vx, err := h.LinkByName(VxlanName)
		if err != nil {
			return err
		}
		neighs, fdbs, err := listPeers(h, vx.Attrs().Index)
		if err != nil {
			return err
		}
		for ip, mac := range neighs {
			hw, _ := net.ParseMAC(mac)
			out = append(out, Peer{Addr: ip, MAC: hw, VTEP: fdbs[mac]})
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Addr.Less(out[j].Addr) })
	return out, err
}

func listPeers(h *netlink.Handle, idx int) (map[netip.Addr]string, map[string]netip.Addr, error) {
	ns, err := h.NeighList(idx, netlink.FAMILY_V4)
	if err != nil {
		return nil, nil, fmt.Errorf("list neighbours: %w", err)
	}
	neighs := map[netip.Addr]string{}
	for _, e := range ns {
		if e.State&netlink.NUD_PERMANENT == 0 || e.LinkIndex != idx {
			continue
		}
		if ip, ok := netip.AddrFromSlice(e.IP.To4()); ok {
			neighs[ip] = e.HardwareAddr.String()
		}
	}
	fs, err := h.NeighList(idx, unix.AF_BRIDGE)
	if err != nil {
		return nil, nil, fmt.Errorf("list fdb: %w", err)
	}
	fdbs := map[string]netip.Addr{}
	for _, e := range fs {
		if e.Flags&netlink.NTF_SELF == 0 || e.IP == nil || e.LinkIndex != idx {
			continue
		}
		if ip, ok := netip.AddrFromSlice(e.IP.To4()); ok && !ip.IsUnspecified() {
			fdbs[e.HardwareAddr.String()] = ip
		}
	}
	return neighs, fdbs, nil
}

func isNotFound(err error) bool {
	var lnf netlink.LinkNotFoundError
	return err != nil && (errors.As(err, &lnf) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENOENT))
}

// missingFeature names the kernel feature behind an EOPNOTSUPP-like error.
func missingFeature(err error, feature string) error {
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, syscall.EAFNOSUPPORT) ||
		errors.Is(err, unix.EPROTONOSUPPORT) {
		return fmt.Errorf("kernel lacks %s: %w", feature, err)
	}
	return err
}
