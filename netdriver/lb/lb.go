// Package lb owns the kernel load balancer inside one lb_ (or ingress_sbox)
// namespace: which firewall mark a virtual IP carries and which backends a
// mark spreads connections over. It must not touch links or addresses; the
// overlay package builds the namespace it works in.
package lb

import (
	"fmt"
	"net/netip"
	"slices"
)

// Service is one virtual IP as the kernel balances it: packets to VIP get
// Mark, and connections with Mark are spread round robin over Backends,
// source-NATed to the namespace's own endpoint address.
type Service struct {
	VIP      netip.Addr
	Mark     uint32
	Backends []netip.Addr
	// Draining are backends that get no new connection but keep the ones
	// they have: a task told to stop, until its container has stopped.
	// IPVS holds them as destinations of weight 0; nftables leaves them out
	// of the selection map, their connections following conntrack.
	Draining []netip.Addr
}

// Backend programs Services into the kernel of one namespace. Both
// implementations (nftables, ipvs) satisfy it; the netdriver picks one.
type Backend interface {
	// Name is "nftables" or "ipvs", as `minsw lb inspect` shows it.
	Name() string
	// Apply adds or replaces the services in set and removes those in del
	// (matched by Mark), as one kernel transaction where the backend allows.
	Apply(set []Service, del []uint32) error
	// Services reads back what the kernel holds, sorted by Mark.
	Services() ([]Service, error)
	// Close removes every kernel object the backend made.
	Close() error
}

// Validate reports the first malformed field of s.
func (s Service) Validate() error {
	if !s.VIP.Is4() {
		return fmt.Errorf("lb: service VIP %v is not an IPv4 address", s.VIP)
	}
	if s.Mark == 0 {
		return fmt.Errorf("lb: service %v has no firewall mark", s.VIP)
	}
	for _, b := range s.Backends {
		if !b.Is4() {
			return fmt.Errorf("lb: service %v: backend %v is not an IPv4 address", s.VIP, b)
		}
	}
	for _, b := range s.Draining {
		if !b.Is4() {
			return fmt.Errorf("lb: service %v: draining backend %v is not an IPv4 address", s.VIP, b)
		}
		if slices.Contains(s.Backends, b) {
			return fmt.Errorf("lb: service %v: backend %v is both serving and draining", s.VIP, b)
		}
	}
	return nil
}
