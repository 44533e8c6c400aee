package ipvs

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"syscall"

	"github.com/minsw/minsw/netdriver/lb"
)

var _ lb.ConnCounter = (*Backend)(nil)

// Conns implements lb.ConnCounter with IPVS's own counters, the ones
// `ipvsadm -ln` shows for each destination of each fwmark service.
func (b *Backend) Conns() ([]lb.Conns, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ipvs == nil {
		return nil, errors.New("lb/ipvs: backend is closed")
	}
	svcs, err := b.ipvs.GetServices()
	if err != nil {
		return nil, ipvsErr("list services", err)
	}
	var out []lb.Conns
	for _, s := range svcs {
		if s.FWMark == 0 || s.AddressFamily != syscall.AF_INET {
			continue
		}
		dsts, err := b.ipvs.GetDestinations(s)
		if err != nil {
			return nil, ipvsErr(fmt.Sprintf("list destinations of FWM %d", s.FWMark), err)
		}
		for _, d := range dsts {
			if a, ok := netip.AddrFromSlice(d.Address.To4()); ok {
				out = append(out, lb.Conns{Mark: s.FWMark, Backend: a,
					Active: uint32(d.ActiveConnections), Inactive: uint32(d.InactiveConnections)})
			}
		}
	}
	slices.SortFunc(out, func(x, y lb.Conns) int {
		if x.Mark != y.Mark {
			return int(x.Mark) - int(y.Mark)
		}
		return x.Backend.Compare(y.Backend)
	})
	return out, nil
}
