package allocator

import (
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/minsw/minsw/internal/errdefs"
)

// Address space defaults, as Swarm's: networks are /24s carved from
// 10.0.0.0/8, VXLAN IDs start at 4096, firewall marks at 0x100.
var DefaultPool = netip.MustParsePrefix("10.0.0.0/8")

const (
	DefaultSubnetBits = 24
	FirstVNI          = 4096
	LastVNI           = 1<<24 - 1
	FirstMark         = 0x100
	LastMark          = 0xfffffff
)

// Pool hands out the host addresses of one subnet. Allocation is serial
// (a cursor that wraps), so a released address is the last to be handed out
// again: an address whose holder just went stays unused as long as possible.
type Pool struct {
	subnet netip.Prefix
	used   *big.Int // bit i = offset i from the network address
	size   int      // number of addresses in the subnet
	next   int      // where the next search starts
	free   int
}

// NewPool returns a pool of subnet's host addresses (network and broadcast
// addresses are never handed out).
func NewPool(subnet netip.Prefix) (*Pool, error) {
	subnet = subnet.Masked()
	if !subnet.Addr().Is4() {
		return nil, errdefs.InvalidArgument("subnet %s is not IPv4", subnet)
	}
	hostBits := 32 - subnet.Bits()
	if hostBits < 2 || hostBits > 16 {
		return nil, errdefs.InvalidArgument("subnet %s must be between /16 and /30", subnet)
	}
	p := &Pool{subnet: subnet, used: new(big.Int), size: 1 << hostBits, next: 1}
	p.used.SetBit(p.used, 0, 1)
	p.used.SetBit(p.used, p.size-1, 1)
	p.free = p.size - 2
	return p, nil
}

// Subnet is the pool's subnet.
func (p *Pool) Subnet() netip.Prefix { return p.subnet }

func (p *Pool) offset(a netip.Addr) (int, bool) {
	if !p.subnet.Contains(a) {
		return 0, false
	}
	base := p.subnet.Addr().As4()
	b := a.As4()
	off := (int(b[0])-int(base[0]))<<24 | (int(b[1])-int(base[1]))<<16 | (int(b[2])-int(base[2]))<<8 | (int(b[3]) - int(base[3]))
	return off, off > 0 && off < p.size-1
}

func (p *Pool) addr(off int) netip.Addr {
	b := p.subnet.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(off)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Reserve marks a as used; it fails if a is outside the pool or taken.
func (p *Pool) Reserve(a netip.Addr) error {
	off, ok := p.offset(a)
	if !ok {
		return errdefs.InvalidArgument("address %s is not a host address of %s", a, p.subnet)
	}
	if p.used.Bit(off) == 1 {
		return errdefs.AlreadyExists("address %s is already in use", a)
	}
	p.used.SetBit(p.used, off, 1)
	p.free--
	return nil
}

// Allocate returns the next free address.
func (p *Pool) Allocate() (netip.Addr, error) {
	if p.free == 0 {
		return netip.Addr{}, errdefs.FailedPrecondition("no addresses left in %s", p.subnet)
	}
	for i := 0; i < p.size; i++ {
		off := (p.next + i) % p.size
		if p.used.Bit(off) == 0 {
			p.used.SetBit(p.used, off, 1)
			p.free--
			p.next = off + 1
			return p.addr(off), nil
		}
	}
	return netip.Addr{}, errdefs.FailedPrecondition("no addresses left in %s", p.subnet)
}

// Release frees a; releasing an address the pool does not hold is a no-op.
func (p *Pool) Release(a netip.Addr) {
	off, ok := p.offset(a)
	if !ok || p.used.Bit(off) == 0 {
		return
	}
	p.used.SetBit(p.used, off, 0)
	p.free++
}

// Free counts the free addresses.
func (p *Pool) Free() int { return p.free }

// ParseSubnet checks a user's --subnet: IPv4 CIDR, /16 to /30, given as its
// network address.
func ParseSubnet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, errdefs.InvalidArgument("invalid subnet %q: %s", s, whyNotCIDR(s))
	}
	if !p.Addr().Is4() {
		return netip.Prefix{}, errdefs.InvalidArgument("invalid subnet %s: only IPv4 subnets are supported", s)
	}
	if p.Bits() < 16 || p.Bits() > 30 {
		return netip.Prefix{}, errdefs.InvalidArgument("invalid subnet %s: the prefix length must be between /16 and /30", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, errdefs.InvalidArgument("invalid subnet %s: it has host bits set (did you mean %s?)", s, p.Masked())
	}
	return p, nil
}

// whyNotCIDR says in a user's words why s is not an IPv4 CIDR such as
// 10.0.9.0/24 (netip's own message quotes its internals).
func whyNotCIDR(s string) string {
	addr, bits, ok := strings.Cut(s, "/")
	if !ok {
		return "want an address and a prefix length, such as 10.0.9.0/24"
	}
	if why := whyNotIPv4(addr); why != "" {
		return why
	}
	if n, err := strconv.Atoi(bits); err != nil || n < 0 || n > 32 || bits != strconv.Itoa(n) {
		return fmt.Sprintf("%q is not a prefix length (a number from 0 to 32)", bits)
	}
	return "not an IPv4 subnet"
}

// whyNotIPv4 says why a is not a dotted IPv4 address ("" if it is one).
func whyNotIPv4(a string) string {
	parts := strings.Split(a, ".")
	if len(parts) != 4 {
		return fmt.Sprintf("%q is not an IPv4 address (four numbers from 0 to 255, separated by dots)", a)
	}
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		switch {
		case p == "":
			return fmt.Sprintf("%q has an empty octet", a)
		case err != nil || strings.HasPrefix(p, "+") || strings.HasPrefix(p, "-"):
			return fmt.Sprintf("%s is not a number", p)
		case n > 255:
			return fmt.Sprintf("%d is not a valid IPv4 octet", n)
		case len(p) > 1 && p[0] == '0':
			return fmt.Sprintf("%s has a leading zero", p)
		}
	}
	return ""
}

// NamedSubnet is a subnet in use and the network holding it.
type NamedSubnet struct {
	Name   string
	Subnet netip.Prefix
}

// Overlap returns the first subnet in used that overlaps p.
func Overlap(p netip.Prefix, used []NamedSubnet) (NamedSubnet, bool) {
	for _, u := range used {
		if u.Subnet.Overlaps(p) {
			return u, true
		}
	}
	return NamedSubnet{}, false
}

// NextSubnet returns the first /bits subnet of pool that overlaps none of
// used, scanning in address order so the first network gets 10.0.0.0/24,
// the next 10.0.1.0/24, as in Swarm.
func NextSubnet(pool netip.Prefix, bits int, used []NamedSubnet) (netip.Prefix, error) {
	step := uint32(1) << (32 - bits)
	b := pool.Masked().Addr().As4()
	start := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	count := uint32(1) << (bits - pool.Bits())
	for i := uint32(0); i < count; i++ {
		v := start + i*step
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), bits)
		if _, clash := Overlap(p, used); !clash {
			return p, nil
		}
	}
	return netip.Prefix{}, errdefs.FailedPrecondition("no free /%d subnet left in %s", bits, pool)
}

// FirstHost is the subnet's first host address, the default gateway.
func FirstHost(p netip.Prefix) netip.Addr { return p.Masked().Addr().Next() }

// MACFromIP derives a container MAC from its IPv4 address as Docker does:
// 02:42 followed by the four address bytes (10.0.1.37 -> 02:42:0a:00:01:25).
func MACFromIP(a netip.Addr) string {
	b := a.As4()
	return net.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}.String()
}

// Counter hands out the lowest free integer of [first, last] (VNIs, marks).
type Counter struct {
	first, last uint32
	used        map[uint32]bool
	next        uint32
}

// NewCounter returns a counter over [first, last].
func NewCounter(first, last uint32) *Counter {
	return &Counter{first: first, last: last, used: map[uint32]bool{}, next: first}
}

// Reserve marks v used.
func (c *Counter) Reserve(v uint32) error {
	if v < c.first || v > c.last {
		return errdefs.InvalidArgument("%d is outside %d-%d", v, c.first, c.last)
	}
	if c.used[v] {
		return errdefs.AlreadyExists("%d is already in use", v)
	}
	c.used[v] = true
	return nil
}

// Allocate returns the next free value after the last one handed out
// (wrapping), so a released value is reused last.
func (c *Counter) Allocate() (uint32, error) {
	span := c.last - c.first + 1
	for i := uint32(0); i < span; i++ {
		v := c.first + (c.next-c.first+i)%span
		if !c.used[v] {
			c.used[v] = true
			c.next = v + 1
			if c.next > c.last {
				c.next = c.first
			}
			return v, nil
		}
	}
	return 0, errdefs.FailedPrecondition("no free value left in %d-%d", c.first, c.last)
}

// Release frees v.
func (c *Counter) Release(v uint32) { delete(c.used, v) }

func nowProto() *timestamppb.Timestamp { return timestamppb.Now() }
