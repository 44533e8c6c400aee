package node

import (
	"slices"

	"github.com/minsw/minsw/netdriver/lb"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// lbConns gives ls the connection counts of its service's backends,
// serving then draining.
func lbConns(ls *api.LBService, s lb.Service, all []lb.Conns) {
	for _, be := range slices.Concat(s.Backends, s.Draining) {
		for _, c := range all {
			if c.Mark == s.Mark && c.Backend == be {
				ls.Conns = append(ls.Conns, &api.LBConns{Backend: be.String(), Active: c.Active, Inactive: c.Inactive})
				break
			}
		}
	}
}
