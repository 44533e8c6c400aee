package ipvs

import (
	"maps"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/minsw/minsw/netdriver/lb"
)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func ips(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, ip(s))
	}
	return out
}

// full is a complete entry, as the kernel holds a service Apply made.
func full(vip string, backends ...string) entry {
	return entry{Service: true, VIP: ip(vip), Snat: true, Backends: ips(backends...)}
}

func TestPlan(t *testing.T) {
	web := lb.Service{VIP: ip("10.0.1.30"), Mark: 262, Backends: ips("10.0.1.32", "10.0.1.31")}
	client := lb.Service{VIP: ip("10.0.1.35"), Mark: 263, Backends: ips("10.0.1.36")}
	seed := map[uint32]entry{262: full("10.0.1.30", "10.0.1.31", "10.0.1.32"), 263: full("10.0.1.35", "10.0.1.36")}
	tests := []struct {
		name string
		cur  map[uint32]entry
		set  []lb.Service
		del  []uint32
		want plan
	}{
		{
			name: "the seed's two services from empty",
			cur:  map[uint32]entry{},
			set:  []lb.Service{client, web},
			want: plan{
				NewServices: []uint32{262, 263},
				AddDests:    []dest{{262, ip("10.0.1.31"), 1}, {262, ip("10.0.1.32"), 1}, {263, ip("10.0.1.36"), 1}},
				AddVIPs:     []vipMark{{ip("10.0.1.30"), 262}, {ip("10.0.1.35"), 263}},
				AddMarks:    []uint32{262, 263},
			},
		},
		{
			name: "same services again change nothing",
			cur:  seed,
			set:  []lb.Service{web, client},
		},
		{
			name: "a third web task adds one destination only",
			cur:  seed,
			set:  []lb.Service{{VIP: web.VIP, Mark: 262, Backends: ips("10.0.1.31", "10.0.1.32", "10.0.1.33")}},
			want: plan{AddDests: []dest{{262, ip("10.0.1.33"), 1}}},
		},
		{
			name: "a stopped web task removes one destination only",
			cur:  seed,
			set:  []lb.Service{{VIP: web.VIP, Mark: 262, Backends: ips("10.0.1.31")}},
			want: plan{DelDests: []dest{{262, ip("10.0.1.32"), 1}}},
		},
		{
			name: "a task told to stop drains: weight 0, its destination and connections kept",
			cur:  seed,
			set:  []lb.Service{{VIP: web.VIP, Mark: 262, Backends: ips("10.0.1.31"), Draining: ips("10.0.1.32")}},
			want: plan{SetWeights: []dest{{262, ip("10.0.1.32"), 0}}},
		},
		{
			name: "a drained task that stopped leaves",
			cur: map[uint32]entry{262: {Service: true, VIP: ip("10.0.1.30"), Snat: true,
				Backends: ips("10.0.1.31"), Draining: ips("10.0.1.32")}},
			set:  []lb.Service{{VIP: web.VIP, Mark: 262, Backends: ips("10.0.1.31")}},
			want: plan{DelDests: []dest{{262, ip("10.0.1.32"), 0}}},
		},
		{
			name: "a draining task seen first (a node that missed its running days) is added at weight 0",
			cur:  map[uint32]entry{},
			set:  []lb.Service{{VIP: web.VIP, Mark: 262, Backends: ips("10.0.1.31"), Draining: ips("10.0.1.32")}},
			want: plan{
				NewServices: []uint32{262},
				AddDests:    []dest{{262, ip("10.0.1.31"), 1}, {262, ip("10.0.1.32"), 0}},
				AddVIPs:     []vipMark{{ip("10.0.1.30"), 262}},
				AddMarks:    []uint32{262},
			},
		},
		{
			name: "service client removed",
			cur:  seed,
			del:  []uint32{263},
			want: plan{DelServices: []uint32{263}, DelVIPs: ips("10.0.1.35"), DelMarks: []uint32{263}},
		},
		{
			name: "removing an unknown mark changes nothing",
			cur:  seed,
			del:  []uint32{999},
		},
		{
			name: "a service with no running task keeps its VIP and mark",
			cur:  map[uint32]entry{},
			set:  []lb.Service{{VIP: web.VIP, Mark: 262}},
			want: plan{NewServices: []uint32{262}, AddVIPs: []vipMark{{web.VIP, 262}}, AddMarks: []uint32{262}},
		},
		{
			name: "VIP moved to another mark in one call",
			cur:  seed,
			set:  []lb.Service{{VIP: ip("10.0.1.30"), Mark: 300, Backends: ips("10.0.1.31")}},
			del:  []uint32{262},
			want: plan{
				NewServices: []uint32{300},
				AddDests:    []dest{{300, ip("10.0.1.31"), 1}},
				DelVIPs:     ips("10.0.1.30"),
				AddVIPs:     []vipMark{{ip("10.0.1.30"), 300}},
				DelMarks:    []uint32{262},
				AddMarks:    []uint32{300},
				DelServices: []uint32{262},
			},
		},
		{
			name: "leftovers of a crashed daemon are completed, not duplicated",
			cur: map[uint32]entry{
				262: {Service: true, Backends: ips("10.0.1.31")}, // IPVS made, map not yet
				263: {VIP: ip("10.0.1.35"), Snat: true},          // map made, IPVS not yet
			},
			set: []lb.Service{web, client},
			want: plan{
				NewServices: []uint32{263},
				AddDests:    []dest{{262, ip("10.0.1.32"), 1}, {263, ip("10.0.1.36"), 1}},
				AddVIPs:     []vipMark{{ip("10.0.1.30"), 262}},
				AddMarks:    []uint32{262},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			change, err := desired(tt.cur, vipOwners(tt.cur), tt.set, tt.del)
			if err != nil {
				t.Fatal(err)
			}
			got := diff(tt.cur, change)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("plan\n got %+v\nwant %+v", got, tt.want)
			}
			next := maps.Clone(tt.cur)
			owner := vipOwners(next)
			commit(next, owner, change)
			if !reflect.DeepEqual(owner, vipOwners(next)) {
				t.Errorf("commit left the VIP index %v, want %v", owner, vipOwners(next))
			}
			again, err := desired(next, owner, tt.set, tt.del)
			if err != nil {
				t.Fatalf("the same call again: %v", err)
			}
			if p := diff(next, again); !p.empty() {
				t.Errorf("the same call again is not a no-op: %+v", p)
			}
		})
	}
}

func TestPlanSplitsVIPMovesIntoTwoTransactions(t *testing.T) {
	p := plan{DelVIPs: ips("10.0.1.30"), AddVIPs: []vipMark{{ip("10.0.1.30"), 300}}}
	if !p.nftSplit() {
		t.Error("a VIP deleted and re-added must take two transactions")
	}
	p.AddVIPs[0].VIP = ip("10.0.1.40")
	if p.nftSplit() {
		t.Error("distinct VIPs fit one transaction")
	}
}

func TestDesiredRefuses(t *testing.T) {
	web := lb.Service{VIP: ip("10.0.1.30"), Mark: 262}
	tests := []struct {
		name, err string
		cur       map[uint32]entry
		set       []lb.Service
	}{
		{"mark zero", "no firewall mark", nil, []lb.Service{{VIP: web.VIP}}},
		{"IPv6 VIP", "not an IPv4", nil, []lb.Service{{VIP: ip("fd00::1"), Mark: 1}}},
		{"IPv6 backend", "not an IPv4", nil, []lb.Service{{VIP: web.VIP, Mark: 1, Backends: ips("fd00::2")}}},
		{"mark twice", "given twice", nil, []lb.Service{web, web}},
		{"VIP on two marks in one call", "two marks, 262 and 263", nil,
			[]lb.Service{web, {VIP: web.VIP, Mark: 263}}},
		{"VIP already on another mark", "two marks, 262 and 263",
			map[uint32]entry{262: full("10.0.1.30")}, []lb.Service{{VIP: web.VIP, Mark: 263}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := desired(tt.cur, vipOwners(tt.cur), tt.set, nil)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want one containing %q", err, tt.err)
			}
		})
	}
}

func TestServicesSortedByMarkWithoutPartialEntries(t *testing.T) {
	got := services(map[uint32]entry{
		263: full("10.0.1.35", "10.0.1.36"),
		262: full("10.0.1.30", "10.0.1.31", "10.0.1.32"),
		300: {VIP: ip("10.0.1.40"), Snat: true},
	})
	want := []lb.Service{
		{VIP: ip("10.0.1.30"), Mark: 262, Backends: ips("10.0.1.31", "10.0.1.32")},
		{VIP: ip("10.0.1.35"), Mark: 263, Backends: ips("10.0.1.36")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// BenchmarkPlanOneBackendOf10000 is the planning part of "add or remove one
// backend with 10,000 services present" (the kernel part is two netlink
// round trips).
func BenchmarkPlanOneBackendOf10000(b *testing.B) {
	cur := map[uint32]entry{}
	for i := range 10000 {
		e := entry{Service: true, Snat: true, VIP: netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)})}
		for j := range 10 {
			n := i*10 + j
			e.Backends = append(e.Backends, netip.AddrFrom4([4]byte{10, 3 + byte(n>>16), byte(n >> 8), byte(n)}))
		}
		cur[uint32(0x1000+i)] = e
	}
	owner := vipOwners(cur)
	s := services(cur)[5000]
	s.Backends = append(s.Backends, ip("10.9.0.1"))
	for b.Loop() {
		change, err := desired(cur, owner, []lb.Service{s}, nil)
		if err != nil {
			b.Fatal(err)
		}
		if p := diff(cur, change); len(p.AddDests) != 1 {
			b.Fatalf("plan %+v", p)
		}
	}
}
