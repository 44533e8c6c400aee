package nft

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/minsw/minsw/netdriver/lb"
)

func TestCountConnsAsIpvsadm(t *testing.T) {
	a := netip.MustParseAddr
	web := lb.Service{VIP: a("10.0.1.30"), Mark: 0x106, Backends: []netip.Addr{a("10.0.1.31"), a("10.0.1.32")}, Draining: []netip.Addr{a("10.0.1.33")}}
	pub := lb.Service{VIP: a("10.0.0.5"), Mark: 0x107, Backends: []netip.Addr{a("10.0.0.7")}}
	for _, tc := range []struct {
		name  string
		flows []flow
		want  []lb.Conns
	}{
		{"no connections: every backend shows zeros", nil, []lb.Conns{
			{Mark: 0x106, Backend: a("10.0.1.31")}, {Mark: 0x106, Backend: a("10.0.1.32")}, {Mark: 0x106, Backend: a("10.0.1.33")}, {Mark: 0x107, Backend: a("10.0.0.7")}}},
		{"curl web twice, one still open, one in TIME_WAIT", []flow{
			{origDst: a("10.0.1.30"), replySrc: a("10.0.1.31"), tcp: true, established: true},
			{origDst: a("10.0.1.30"), replySrc: a("10.0.1.32"), tcp: true},
		}, []lb.Conns{
			{Mark: 0x106, Backend: a("10.0.1.31"), Active: 1}, {Mark: 0x106, Backend: a("10.0.1.32"), Inactive: 1},
			{Mark: 0x106, Backend: a("10.0.1.33")}, {Mark: 0x107, Backend: a("10.0.0.7")}}},
		{"a UDP flow is inactive, a published port counts by its backend", []flow{
			{origDst: a("10.0.1.30"), replySrc: a("10.0.1.31")},
			{origDst: a("172.18.0.2"), replySrc: a("10.0.0.7"), tcp: true, established: true},
		}, []lb.Conns{
			{Mark: 0x106, Backend: a("10.0.1.31"), Inactive: 1}, {Mark: 0x106, Backend: a("10.0.1.32")},
			{Mark: 0x106, Backend: a("10.0.1.33")}, {Mark: 0x107, Backend: a("10.0.0.7"), Active: 1}}},
		{"a draining backend keeps counting its connections", []flow{
			{origDst: a("10.0.1.30"), replySrc: a("10.0.1.33"), tcp: true, established: true},
		}, []lb.Conns{
			{Mark: 0x106, Backend: a("10.0.1.31")}, {Mark: 0x106, Backend: a("10.0.1.32")}, {Mark: 0x106, Backend: a("10.0.1.33"), Active: 1},
			{Mark: 0x107, Backend: a("10.0.0.7")}}},
		{"flows not NATed to a backend are not counted", []flow{
			{origDst: a("10.0.1.31"), replySrc: a("10.0.1.31"), tcp: true, established: true}, // straight to the task
			{origDst: a("10.0.1.30"), replySrc: a("10.0.1.30"), tcp: false},                   // ping of the VIP
			{origDst: a("10.0.1.30"), replySrc: a("10.0.1.99"), tcp: true, established: true}, // a backend gone
		}, []lb.Conns{
			{Mark: 0x106, Backend: a("10.0.1.31")}, {Mark: 0x106, Backend: a("10.0.1.32")}, {Mark: 0x106, Backend: a("10.0.1.33")}, {Mark: 0x107, Backend: a("10.0.0.7")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := countConns([]lb.Service{web, pub}, tc.flows); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
