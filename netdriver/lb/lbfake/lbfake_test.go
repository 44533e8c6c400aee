package lbfake

import (
	"net/netip"
	"testing"

	"github.com/minsw/minsw/netdriver/lb"
)

func TestApplyIsOneTransaction(t *testing.T) {
	b := New()
	vip := netip.MustParseAddr("10.0.1.2")
	web := lb.Service{VIP: vip, Mark: 0x100, Backends: []netip.Addr{netip.MustParseAddr("10.0.1.3")}}
	if err := b.Apply([]lb.Service{web}, nil); err != nil {
		t.Fatal(err)
	}
	// The same VIP on a second mark is refused, and nothing changes.
	clash := lb.Service{VIP: vip, Mark: 0x101}
	other := lb.Service{VIP: netip.MustParseAddr("10.0.1.9"), Mark: 0x102}
	if err := b.Apply([]lb.Service{other, clash}, nil); err == nil {
		t.Fatal("a VIP on two marks was accepted")
	}
	if err := b.Apply([]lb.Service{{VIP: netip.MustParseAddr("10.0.1.9")}}, nil); err == nil {
		t.Fatal("a service without a mark was accepted")
	}
	got, _ := b.Services()
	if len(got) != 1 || got[0].Mark != 0x100 || len(got[0].Backends) != 1 {
		t.Fatalf("after refused applies: %v", got)
	}
	if err := b.Apply([]lb.Service{other}, []uint32{0x100}); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Services(); len(got) != 1 || got[0].Mark != 0x102 || b.Applies() != 2 {
		t.Fatalf("after delete and set: %v (%d applies)", got, b.Applies())
	}
}
