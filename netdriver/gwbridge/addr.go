package gwbridge

import (
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/minsw/minsw/netdriver/netns"
)

// Addr reads the bridge named name in the namespace at nsPath ("": the
// caller's own): ok says it exists, gw is its address (the gateway, in the
// bridge's subnet), for `network ls` and `network inspect minsw_gwbridge`.
func Addr(nsPath, name string) (gw netip.Prefix, ok bool) {
	_ = netns.WithHandle(nsPath, func(h *netlink.Handle) error {
		l, err := h.LinkByName(name)
		if err != nil {
			return err
		}
		ok = true
		addrs, err := h.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if ip, isV4 := netip.AddrFromSlice(a.IP.To4()); isV4 {
				ones, _ := a.Mask.Size()
				gw = netip.PrefixFrom(ip, ones)
				break
			}
		}
		return nil
	})
	return gw, ok
}
