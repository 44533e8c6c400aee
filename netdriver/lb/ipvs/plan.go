package ipvs

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/minsw/minsw/netdriver/lb"
)

// entry is what the kernel of one namespace holds for one firewall mark.
// Each of the three parts lives in a different kernel object, and a crashed
// daemon may have left any subset of them behind, so each is tracked apart.
type entry struct {
	Service  bool         // an IPVS fwmark service exists
	VIP      netip.Addr   // the VIP→mark map points VIP at this mark (invalid: no element)
	Snat     bool         // the mark is in the SNAT mark set
	Backends []netip.Addr // IPVS destinations of weight 1, sorted
	Draining []netip.Addr // IPVS destinations of weight 0, sorted
}

// dest is one IPVS destination of the service with Mark: weight 1 takes
// new connections, weight 0 (draining) only keeps its own.
type dest struct {
	Mark   uint32
	Addr   netip.Addr
	Weight int
}

// vipMark is one element of the VIP→mark map.
type vipMark struct {
	VIP  netip.Addr
	Mark uint32
}

// plan is what Apply must do to the kernel, in this order: IPVS services
// and destinations first (so a VIP never points at a mark IPVS lacks), then
// the nftables changes, then the IPVS services no VIP points at any more.
type plan struct {
	NewServices []uint32
	AddDests    []dest
	SetWeights  []dest // destinations kept, their weight changed
	DelDests    []dest
	DelVIPs     []netip.Addr
	AddVIPs     []vipMark
	DelMarks    []uint32
	AddMarks    []uint32
	DelServices []uint32
}

// empty reports whether the plan changes nothing.
func (p plan) empty() bool {
	return len(p.NewServices)+len(p.AddDests)+len(p.SetWeights)+len(p.DelDests)+len(p.DelVIPs)+
		len(p.AddVIPs)+len(p.DelMarks)+len(p.AddMarks)+len(p.DelServices) == 0
}

// nftSplit reports whether the VIP map changes must go in two nftables
// transactions: a key deleted and re-added with another mark in one batch
// is refused by some kernels' hash sets.
func (p plan) nftSplit() bool {
	if len(p.DelVIPs) == 0 || len(p.AddVIPs) == 0 {
		return false
	}
	del := make(map[netip.Addr]bool, len(p.DelVIPs))
	for _, v := range p.DelVIPs {
		del[v] = true
	}
	for _, a := range p.AddVIPs {
		if del[a.VIP] {
			return true
		}
	}
	return false
}

// desired returns the new entry of every mark Apply(set, del) touches on
// cur, nil for a mark that goes; marks it does not touch are left out, so
// one backend change costs the same with 10 or 10,000 services. owner is
// cur's VIP→mark index (vipOwners). It refuses malformed services, a mark
// given twice and two marks sharing one VIP.
func desired(cur map[uint32]entry, owner map[netip.Addr]uint32, set []lb.Service, del []uint32) (map[uint32]*entry, error) {
	change := make(map[uint32]*entry, len(set)+len(del))
	for _, m := range del {
		if _, ok := cur[m]; ok {
			change[m] = nil
		}
	}
	vips := make(map[netip.Addr]uint32, len(set))
	for _, s := range set {
		if err := s.Validate(); err != nil {
			return nil, err
		}
		if w, dup := change[s.Mark]; dup && w != nil {
			return nil, fmt.Errorf("lb/ipvs: mark %d given twice", s.Mark)
		}
		if o, dup := vips[s.VIP]; dup {
			return nil, twoMarks(s.VIP, o, s.Mark)
		}
		vips[s.VIP] = s.Mark
		change[s.Mark] = &entry{Service: true, VIP: s.VIP, Snat: true, Backends: sorted(s.Backends), Draining: sorted(s.Draining)}
	}
	// A VIP may move to another mark only if its old mark lets go of it
	// in the same call: removed, or given another VIP.
	for vip, m := range vips {
		if o, ok := owner[vip]; ok && o != m {
			if _, touched := change[o]; !touched {
				return nil, twoMarks(vip, o, m)
			}
		}
	}
	return change, nil
}

// sorted returns a sorted copy of a without duplicates (nil when empty).
func sorted(a []netip.Addr) []netip.Addr {
	if len(a) == 0 {
		return nil
	}
	b := slices.Clone(a)
	slices.SortFunc(b, netip.Addr.Compare)
	return slices.Compact(b)
}

func twoMarks(vip netip.Addr, a, b uint32) error {
	return fmt.Errorf("lb/ipvs: VIP %v would carry two marks, %d and %d", vip, min(a, b), max(a, b))
}

// vipOwners indexes st by VIP.
func vipOwners(st map[uint32]entry) map[netip.Addr]uint32 {
	owner := make(map[netip.Addr]uint32, len(st))
	for m, e := range st {
		if e.VIP.IsValid() {
			owner[e.VIP] = m
		}
	}
	return owner
}

// commit records change in st and its index owner, once the kernel holds it.
func commit(st map[uint32]entry, owner map[netip.Addr]uint32, change map[uint32]*entry) {
	for m, w := range change {
		if c, ok := st[m]; ok && c.VIP.IsValid() && owner[c.VIP] == m {
			delete(owner, c.VIP)
		}
		if w == nil {
			delete(st, m)
			continue
		}
		st[m] = *w
	}
	for m, w := range change {
		if w != nil && w.VIP.IsValid() {
			owner[w.VIP] = m
		}
	}
}

// diff returns the kernel changes that turn cur into cur with change.
// Entries of change are complete (as desired makes them); entries of cur
// may be partial, or absent for a new mark. The output is sorted so that
// tests and kernels see a stable order.
func diff(cur map[uint32]entry, change map[uint32]*entry) plan {
	var p plan
	for m, w := range change {
		c := cur[m]
		if w == nil {
			if c.Service {
				p.DelServices = append(p.DelServices, m)
			}
			if c.VIP.IsValid() {
				p.DelVIPs = append(p.DelVIPs, c.VIP)
			}
			if c.Snat {
				p.DelMarks = append(p.DelMarks, m)
			}
			continue
		}
		if !c.Service {
			p.NewServices = append(p.NewServices, m)
		}
		// A backend that moves between serving and draining keeps its
		// destination (and so its connections): only its weight changes.
		have, want := weights(c), weights(*w)
		for a, wt := range want {
			switch cw, ok := have[a]; {
			case !ok:
				p.AddDests = append(p.AddDests, dest{m, a, wt})
			case cw != wt:
				p.SetWeights = append(p.SetWeights, dest{m, a, wt})
			}
		}
		for a, cw := range have {
			if _, ok := want[a]; !ok {
				p.DelDests = append(p.DelDests, dest{m, a, cw})
			}
		}
		if c.VIP != w.VIP {
			if c.VIP.IsValid() {
				p.DelVIPs = append(p.DelVIPs, c.VIP)
			}
			p.AddVIPs = append(p.AddVIPs, vipMark{w.VIP, m})
		}
		if !c.Snat {
			p.AddMarks = append(p.AddMarks, m)
		}
	}
	slices.Sort(p.NewServices)
	slices.Sort(p.DelServices)
	slices.Sort(p.AddMarks)
	slices.Sort(p.DelMarks)
	slices.SortFunc(p.DelVIPs, netip.Addr.Compare)
	slices.SortFunc(p.AddVIPs, func(a, b vipMark) int { return a.VIP.Compare(b.VIP) })
	byDest := func(a, b dest) int {
		if a.Mark != b.Mark {
			return int(int64(a.Mark) - int64(b.Mark))
		}
		return a.Addr.Compare(b.Addr)
	}
	slices.SortFunc(p.AddDests, byDest)
	slices.SortFunc(p.SetWeights, byDest)
	slices.SortFunc(p.DelDests, byDest)
	return p
}

// weights maps each destination of e to its IPVS weight.
func weights(e entry) map[netip.Addr]int {
	w := make(map[netip.Addr]int, len(e.Backends)+len(e.Draining))
	for _, a := range e.Draining {
		w[a] = 0
	}
	for _, a := range e.Backends {
		w[a] = 1
	}
	return w
}

// services turns a state into what lb.Backend.Services returns, sorted by
// Mark. A mark with no IPVS service is not a service the kernel balances.
func services(st map[uint32]entry) []lb.Service {
	out := make([]lb.Service, 0, len(st))
	for m, e := range st {
		if !e.Service {
			continue
		}
		out = append(out, lb.Service{VIP: e.VIP, Mark: m, Backends: slices.Clone(e.Backends), Draining: slices.Clone(e.Draining)})
	}
	slices.SortFunc(out, func(a, b lb.Service) int { return int(int64(a.Mark) - int64(b.Mark)) })
	return out
}
