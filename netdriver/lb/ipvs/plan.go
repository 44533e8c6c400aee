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
	Backends []netip.Addr // IPVS destinations, sorted
}

// dest is one IPVS destination of the service with Mark.
type dest struct {
	Mark uint32
	Addr netip.Addr
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
	DelDests    []dest
	DelVIPs     []netip.Addr
	AddVIPs     []vipMark
	DelMarks    []uint32
	AddMarks    []uint32
	DelServices []uint32
}

// empty reports whether the plan changes nothing.
func (p plan) empty() bool {
	return len(p.NewServices)+len(p.AddDests)+len(p.DelDests)+len(p.DelVIPs)+
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

// desired returns the state the kernel must hold after Apply(set, del) on
// cur: cur without the marks in del, with every service of set replacing
// the entry of its mark. It refuses malformed services, a mark given twice
// and two marks sharing one VIP.
func desired(cur map[uint32]entry, set []lb.Service, del []uint32) (map[uint32]entry, error) {
	want := make(map[uint32]entry, len(cur)+len(set))
	for m, e := range cur {
		want[m] = e
	}
	for _, m := range del {
		delete(want, m)
	}
	seen := make(map[uint32]bool, len(set))
	for _, s := range set {
		if err := s.Validate(); err != nil {
			return nil, err
		}
		if seen[s.Mark] {
			return nil, fmt.Errorf("lb/ipvs: mark %d given twice", s.Mark)
		}
		seen[s.Mark] = true
		b := slices.Clone(s.Backends)
		slices.SortFunc(b, netip.Addr.Compare)
		want[s.Mark] = entry{Service: true, VIP: s.VIP, Snat: true, Backends: slices.Compact(b)}
	}
	owner := make(map[netip.Addr]uint32, len(want))
	for m, e := range want {
		if !e.VIP.IsValid() {
			continue
		}
		if o, dup := owner[e.VIP]; dup {
			lo, hi := min(o, m), max(o, m)
			return nil, fmt.Errorf("lb/ipvs: VIP %v would carry two marks, %d and %d", e.VIP, lo, hi)
		}
		owner[e.VIP] = m
	}
	return want, nil
}

// diff returns the kernel changes that turn cur into want. Every entry in
// want is complete (as desired makes it); entries of cur may be partial.
// The output is sorted so that tests and kernels see a stable order.
func diff(cur, want map[uint32]entry) plan {
	var p plan
	for m, c := range cur {
		w, keep := want[m]
		if !keep {
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
		if c.VIP != w.VIP && c.VIP.IsValid() {
			p.DelVIPs = append(p.DelVIPs, c.VIP)
		}
		if !w.Service {
			continue // a partial entry left as it is: nothing asked for it
		}
		if !c.Service {
			p.NewServices = append(p.NewServices, m)
		}
		add, del := sortedDiff(c.Backends, w.Backends)
		for _, a := range add {
			p.AddDests = append(p.AddDests, dest{m, a})
		}
		for _, d := range del {
			p.DelDests = append(p.DelDests, dest{m, d})
		}
		if c.VIP != w.VIP && w.VIP.IsValid() {
			p.AddVIPs = append(p.AddVIPs, vipMark{w.VIP, m})
		}
		if !c.Snat && w.Snat {
			p.AddMarks = append(p.AddMarks, m)
		}
	}
	for m, w := range want {
		if _, ok := cur[m]; ok {
			continue
		}
		p.NewServices = append(p.NewServices, m)
		for _, a := range w.Backends {
			p.AddDests = append(p.AddDests, dest{m, a})
		}
		p.AddVIPs = append(p.AddVIPs, vipMark{w.VIP, m})
		p.AddMarks = append(p.AddMarks, m)
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
	slices.SortFunc(p.DelDests, byDest)
	return p
}

// sortedDiff returns what is in want but not in have, and the reverse;
// both inputs are sorted and free of duplicates.
func sortedDiff(have, want []netip.Addr) (add, del []netip.Addr) {
	i, j := 0, 0
	for i < len(have) || j < len(want) {
		switch {
		case j == len(want) || (i < len(have) && have[i].Less(want[j])):
			del = append(del, have[i])
			i++
		case i == len(have) || want[j].Less(have[i]):
			add = append(add, want[j])
			j++
		default:
			i++
			j++
		}
	}
	return add, del
}

// services turns a state into what lb.Backend.Services returns, sorted by
// Mark. A mark with no IPVS service is not a service the kernel balances.
func services(st map[uint32]entry) []lb.Service {
	out := make([]lb.Service, 0, len(st))
	for m, e := range st {
		if !e.Service {
			continue
		}
		out = append(out, lb.Service{VIP: e.VIP, Mark: m, Backends: slices.Clone(e.Backends)})
	}
	slices.SortFunc(out, func(a, b lb.Service) int { return int(int64(a.Mark) - int64(b.Mark)) })
	return out
}
