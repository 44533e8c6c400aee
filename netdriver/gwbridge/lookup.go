package gwbridge

import (
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"

	"github.com/minsw/minsw/netdriver/netns"
)

// Present reports whether a bridge named name exists in the namespace at
// nsPath ("": the caller's own): `network ls` shows the gateway bridge
// only on nodes that made it, and a daemon removes one a previous run left.
func Present(nsPath, name string) bool {
	return netns.WithHandle(nsPath, func(h *netlink.Handle) error {
		_, err := h.LinkByName(name)
		return err
	}) == nil
}

// ContainerAddr returns the address within subnet that the container
// namespace at path already has (its leg on the gateway bridge, after a
// daemon restart), if any.
func ContainerAddr(path string, subnet netip.Prefix) (netip.Prefix, bool) {
	if _, err := os.Stat(path); err != nil {
		return netip.Prefix{}, false
	}
	var out netip.Prefix
	found := false
	_ = netns.WithHandle(path, func(h *netlink.Handle) error {
		addrs, err := h.AddrList(nil, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, ad := range addrs {
			ip, ok := netip.AddrFromSlice(ad.IP.To4())
			if ok && subnet.Contains(ip) {
				ones, _ := ad.Mask.Size()
				out, found = netip.PrefixFrom(ip, ones), true
				return nil
			}
		}
		return nil
	})
	return out, found
}
