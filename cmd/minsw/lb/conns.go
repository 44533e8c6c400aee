package lb

import (
	"net/netip"

	"github.com/minsw/minsw/netdriver/lb"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// lbConns turns a service's connection counts back into the netdriver's.
func lbConns(s *minswv1.LBService) []lb.Conns {
	var out []lb.Conns
	for _, c := range s.GetConns() {
		be, err := netip.ParseAddr(c.GetBackend())
		if err != nil {
			continue
		}
		out = append(out, lb.Conns{Mark: s.GetFwmark(), Backend: be, Active: c.GetActive(), Inactive: c.GetInactive()})
	}
	return out
}
