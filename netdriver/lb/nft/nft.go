// Package nft is the nftables lb.Backend, for kernels without IPVS. Inside
// one lb namespace it keeps table ip minsw:
//
//	map vip_mark  { ipv4_addr : mark }            VIP -> firewall mark
//	map svc       { mark : verdict }              mark -> jump svc_<mark>
//	map backends_NN { mark . mark : ipv4_addr }   (mark, slot) -> backend, NN = mark % 128
//	chain prerouting  (filter, mangle)   meta l4proto != icmp meta mark set ip daddr map @vip_mark
//	chain lb_dnat     (nat, dstnat)      meta mark vmap @svc
//	chain svc_0x106                      dnat to meta mark . numgen inc mod N map @backends_NN
//	chain lb_snat     (nat, srcnat)      meta mark != 0 snat to <lb endpoint>
//
// Per-service rules look up a few shared named maps, so a transaction never
// binds thousands of anonymous sets (whose binding cost grows with the
// square of their number), and a packet costs three hash lookups and one
// jump whatever the number of services. It must not touch links or
// addresses.
package nft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"github.com/minsw/minsw/netdriver/lb"
	"github.com/minsw/minsw/netdriver/netns"
	"golang.org/x/sys/unix"
)

// Names of the objects in the lb namespace.
const (
	TableName      = "minsw"
	mapVIPMark     = "vip_mark"
	mapSvc         = "svc"
	mapBackends    = "backends"
	chainMark      = "prerouting"
	chainDNAT      = "lb_dnat"
	chainSNAT      = "lb_snat"
	svcChainPrefix = "svc_"
	// shards is how many backends maps the services are spread over, by
	// mark. The kernel checks every element of a map against every rule
	// bound to it (on bind and on insert), so one map shared by 10,000
	// per-service rules costs services x elements (54 s to load 10,000 x
	// 10); spread over 128 maps it is 128 times less, while a packet still
	// does one hash lookup.
	shards = 128
	// elemsPerMsg keeps one element list under netlink's 64 KiB attribute.
	elemsPerMsg = 1000
	// sockBuf is the netlink buffer forced on the socket so that a batch
	// for 10,000 services (several MB) and its acks fit.
	sockBuf = 256 << 20
)

// Name is what `minsw lb inspect` shows for this backend.
const Name = "nftables"

// Backend programs services into table ip minsw of one namespace.
type Backend struct {
	mu     sync.Mutex
	nsPath string
	nsFd   int
	conn   *nftables.Conn
	lbAddr netip.Addr
	cur    map[uint32]lb.Service // what the kernel holds

	table                  *nftables.Table
	vipMark, svc           *nftables.Set
	backends               [shards]*nftables.Set
	haveShard              [shards]bool // made lazily, so a small lb lists few maps
	markCh, dnatCh, snatCh *nftables.Chain
}

var _ lb.Backend = (*Backend)(nil)

// New opens (or adopts, after a restart) the load balancer in the namespace
// at nsPath, SNATing to lbAddr. Base chains and maps are (re)made at once;
// services already in the kernel are kept and read back.
func New(nsPath string, lbAddr netip.Addr) (*Backend, error) {
	if !lbAddr.Is4() {
		return nil, fmt.Errorf("nft: lb address %v is not IPv4", lbAddr)
	}
	ns, err := netns.Open(nsPath)
	if err != nil {
		return nil, fmt.Errorf("nft: %w", err)
	}
	b := &Backend{nsPath: nsPath, nsFd: int(ns), lbAddr: lbAddr, cur: map[uint32]lb.Service{}}
	b.conn, err = nftables.New(nftables.WithNetNSFd(b.nsFd), nftables.AsLasting(),
		nftables.WithSockOptions(bigBuffers))
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("nft: netlink: %w", missing(err))
	}
	b.objects()
	if err := b.adopt(); err != nil {
		b.release()
		return nil, err
	}
	return b, nil
}

// bigBuffers forces socket buffers large enough for one big batch: the
// batch is written with one sendmsg and every message is acked.
func bigBuffers(c *netlink.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sockBuf); e != nil {
			serr = e
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, sockBuf)
	})
	return errors.Join(err, serr)
}

func (b *Backend) objects() {
	b.table = &nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName}
	// Made by makeVIPMarkMap; this value names it for element updates and reads.
	b.vipMark = &nftables.Set{Table: b.table, Name: mapVIPMark, IsMap: true,
		KeyType: nftables.TypeIPAddr, DataType: nftables.TypeMark}
	b.svc = &nftables.Set{Table: b.table, Name: mapSvc, IsMap: true, KeyByteOrder: binaryutil.NativeEndian,
		KeyType: nftables.TypeMark, DataType: nftables.TypeVerdict}
	for i := range b.backends {
		// Key: mark . slot (both host order, printed by nft as marks).
		b.backends[i] = &nftables.Set{Table: b.table, Name: shardName(i), IsMap: true, Concatenation: true,
			KeyType: nftables.MustConcatSetType(nftables.TypeMark, nftables.TypeMark), DataType: nftables.TypeIPAddr}
	}
	accept := nftables.ChainPolicyAccept
	b.markCh = &nftables.Chain{Table: b.table, Name: chainMark, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityMangle, Policy: &accept}
	b.dnatCh = &nftables.Chain{Table: b.table, Name: chainDNAT, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest, Policy: &accept}
	b.snatCh = &nftables.Chain{Table: b.table, Name: chainSNAT, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource, Policy: &accept}
}

// adopt reads back services a previous run left and rebuilds the base
// chains (the lb address may have changed); a table it cannot read is
// replaced.
func (b *Backend) adopt() error {
	tables, err := b.conn.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return fmt.Errorf("nft: list tables: %w", missing(err))
	}
	exists := slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == TableName })
	if exists {
		sets, err := b.conn.GetSets(b.table)
		if err != nil {
			return fmt.Errorf("nft: list maps: %w", err)
		}
		for _, st := range sets {
			for i := range b.backends {
				if st.Name == shardName(i) {
					b.haveShard[i] = true
				}
			}
		}
		svcs, err := b.readKernel()
		if err == nil {
			for _, s := range svcs {
				b.cur[s.Mark] = s
			}
		} else {
			// Not ours or from an older layout: start afresh.
			b.conn.DelTable(b.table)
			if err := b.conn.Flush(); err != nil {
				return fmt.Errorf("nft: delete unreadable table: %w", err)
			}
			exists = false
			b.haveShard = [shards]bool{}
		}
	}
	// The VIP map first, in a transaction of its own: it carries the data
	// byte order that makes `nft list ruleset` print the true marks.
	if err := b.makeVIPMarkMap(); err != nil {
		return err
	}
	c := b.conn
	c.AddTable(b.table)
	if err := c.AddSet(b.svc, nil); err != nil {
		return fmt.Errorf("nft: set %s: %w", b.svc.Name, err)
	}
	for _, ch := range []*nftables.Chain{b.markCh, b.dnatCh, b.snatCh} {
		c.AddChain(ch)
		c.FlushChain(ch)
	}
	// meta l4proto != icmp meta mark set ip daddr map @vip_mark
	// ICMP is not balanced (IPVS balances only TCP, UDP and SCTP): a ping of
	// the VIP is answered by the lb namespace itself, as in the tutorial.
	c.AddRule(&nftables.Rule{Table: b.table, Chain: b.markCh, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{unix.IPPROTO_ICMP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: mapVIPMark},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
	}})
	// meta mark vmap @svc
	c.AddRule(&nftables.Rule{Table: b.table, Chain: b.dnatCh, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Lookup{SourceRegister: 1, DestRegister: 0, IsDestRegSet: true, SetName: mapSvc, SetID: b.svc.ID},
	}})
	// meta mark != 0 snat to <lb endpoint>
	lbIP := b.lbAddr.As4()
	c.AddRule(&nftables.Rule{Table: b.table, Chain: b.snatCh, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 0, 0, 0}},
		&expr.Immediate{Register: 1, Data: lbIP[:]},
		&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
	}})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nft: create table ip %s: %w", TableName, missing(err))
	}
	if exists {
		return b.dropOrphanChains()
	}
	return nil
}

// dropOrphanChains deletes svc_ chains no vmap element points at (a crash
// between two transactions cannot make them, but a hand edit can).
func (b *Backend) dropOrphanChains() error {
	chains, err := b.conn.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return fmt.Errorf("nft: list chains: %w", err)
	}
	n := 0
	for _, ch := range chains {
		if ch.Table.Name != TableName || !strings.HasPrefix(ch.Name, svcChainPrefix) {
			continue
		}
		if m, ok := markOfChain(ch.Name); ok {
			if _, live := b.cur[m]; live {
				continue
			}
		}
		b.conn.DelChain(&nftables.Chain{Table: b.table, Name: ch.Name})
		n++
	}
	if n == 0 {
		return nil
	}
	return b.conn.Flush()
}

// Name implements lb.Backend.
func (b *Backend) Name() string { return Name }

// NetnsPath is the namespace the backend programs.
func (b *Backend) NetnsPath() string { return b.nsPath }

func chainName(mark uint32) string {
	return svcChainPrefix + "0x" + strconv.FormatUint(uint64(mark), 16)
}

func markOfChain(name string) (uint32, bool) {
	v, err := strconv.ParseUint(strings.TrimPrefix(name, svcChainPrefix+"0x"), 16, 32)
	return uint32(v), err == nil
}

func shardName(i int) string { return fmt.Sprintf("%s_%02x", mapBackends, i) }

func shardOf(mark uint32) int { return int(mark % shards) }

func ne32(v uint32) []byte { return binaryutil.NativeEndian.PutUint32(v) }

func slotKey(mark, slot uint32) []byte {
	k := make([]byte, 8)
	binary.NativeEndian.PutUint32(k, mark)
	binary.NativeEndian.PutUint32(k[4:], slot)
	return k
}

func ip4(a netip.Addr) []byte { b := a.As4(); return b[:] }

// Apply implements lb.Backend: one nftables transaction that removes the
// services in del and adds or changes those in set. Unchanged services cost
// nothing; a backend change rewrites only that service's map slots and, when
// the backend count changes, its one rule.
func (b *Backend) Apply(set []lb.Service, del []uint32) error {
	for _, s := range set {
		if err := s.Validate(); err != nil {
			return err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn == nil {
		return errors.New("nft: backend closed")
	}
	var (
		c                          = b.conn
		addVIP, delVIP             []nftables.SetElement
		addSvc, delSvc             []nftables.SetElement
		newChains, delChains, flsh []uint32
		rules                      []lb.Service
	)
	var addSlots, delSlots [shards][]nftables.SetElement
	next := make(map[uint32]lb.Service, len(set))
	gone := map[uint32]bool{}
	for _, m := range del {
		if old, ok := b.cur[m]; ok {
			gone[m] = true
			delVIP = append(delVIP, nftables.SetElement{Key: ip4(old.VIP)})
			delSvc = append(delSvc, nftables.SetElement{Key: ne32(m)})
			for i := range old.Backends {
				delSlots[shardOf(m)] = append(delSlots[shardOf(m)], nftables.SetElement{Key: slotKey(m, uint32(i))})
			}
			delChains = append(delChains, m)
		}
	}
	for _, s := range set {
		// Draining backends leave the selection map; their established
		// connections keep their conntrack entry, and so their backend.
		s.Backends = slices.Clone(s.Backends)
		s.Draining = slices.Clone(s.Draining)
		old, had := b.cur[s.Mark]
		if had && gone[s.Mark] {
			return fmt.Errorf("nft: mark %#x both set and deleted", s.Mark)
		}
		next[s.Mark] = s
		if had && old.VIP == s.VIP && slices.Equal(old.Backends, s.Backends) {
			continue
		}
		if !had || old.VIP != s.VIP {
			if had {
				delVIP = append(delVIP, nftables.SetElement{Key: ip4(old.VIP)})
			}
			addVIP = append(addVIP, nftables.SetElement{Key: ip4(s.VIP), Val: ne32(s.Mark)})
		}
		if !had {
			newChains = append(newChains, s.Mark)
			addSvc = append(addSvc, nftables.SetElement{Key: ne32(s.Mark),
				VerdictData: &expr.Verdict{Kind: expr.VerdictJump, Chain: chainName(s.Mark)}})
		}
		// Slots: rewrite those whose backend changed, drop the surplus.
		for i, be := range s.Backends {
			if had && i < len(old.Backends) && old.Backends[i] == be {
				continue
			}
			if had && i < len(old.Backends) {
				delSlots[shardOf(s.Mark)] = append(delSlots[shardOf(s.Mark)], nftables.SetElement{Key: slotKey(s.Mark, uint32(i))})
			}
			addSlots[shardOf(s.Mark)] = append(addSlots[shardOf(s.Mark)], nftables.SetElement{Key: slotKey(s.Mark, uint32(i)), Val: ip4(be)})
		}
		if had {
			for i := len(s.Backends); i < len(old.Backends); i++ {
				delSlots[shardOf(s.Mark)] = append(delSlots[shardOf(s.Mark)], nftables.SetElement{Key: slotKey(s.Mark, uint32(i))})
			}
		}
		if !had || len(old.Backends) != len(s.Backends) {
			if had {
				flsh = append(flsh, s.Mark)
			}
			rules = append(rules, s)
		}
	}
	// A VIP may move from one service to another in the same call: its old
	// element is deleted once, then added with the new mark.
	delVIP = uniqKeys(delVIP)

	// Deletions first: a vmap element holds its chain, and a slot key may be
	// re-added below.
	if err := chunked(c.SetDeleteElements, b.vipMark, delVIP); err != nil {
		return err
	}
	if err := chunked(c.SetDeleteElements, b.svc, delSvc); err != nil {
		return err
	}
	for i, del := range delSlots {
		if err := chunked(c.SetDeleteElements, b.backends[i], del); err != nil {
			return err
		}
	}
	for _, m := range delChains {
		c.DelChain(&nftables.Chain{Table: b.table, Name: chainName(m)})
	}
	for _, m := range flsh {
		c.FlushChain(&nftables.Chain{Table: b.table, Name: chainName(m)})
	}
	for _, m := range newChains {
		c.AddChain(&nftables.Chain{Table: b.table, Name: chainName(m)})
	}
	made := b.haveShard
	for i := range addSlots {
		if len(addSlots[i]) > 0 && !made[i] {
			if err := c.AddSet(b.backends[i], nil); err != nil {
				return fmt.Errorf("nft: map %s: %w", b.backends[i].Name, err)
			}
			made[i] = true
		}
	}
	for _, s := range rules {
		if len(s.Backends) == 0 {
			// No rule: the VIP is local to the lb namespace, so a
			// connection is refused at once instead of hanging.
			continue
		}
		c.AddRule(&nftables.Rule{Table: b.table, Chain: &nftables.Chain{Table: b.table, Name: chainName(s.Mark)},
			Exprs: dnatExprs(shardName(shardOf(s.Mark)), uint32(len(s.Backends)))})
	}
	// Slots after the rules: a rule binding a map checks the elements
	// already in it, so a bulk load binds empty maps.
	for i, add := range addSlots {
		if err := chunked(c.SetAddElements, b.backends[i], add); err != nil {
			return err
		}
	}
	if err := chunked(c.SetAddElements, b.svc, addSvc); err != nil {
		return err
	}
	if err := chunked(c.SetAddElements, b.vipMark, addVIP); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		b.resync()
		return fmt.Errorf("nft: apply %d services, delete %d: %w", len(set), len(del), missing(err))
	}
	b.haveShard = made
	for m := range gone {
		delete(b.cur, m)
	}
	for m, s := range next {
		b.cur[m] = s
	}
	return nil
}

// dnatExprs is: dnat to meta mark . numgen inc mod n map @backends.
// Registers: mark in 32-bit reg 0, slot in 32-bit reg 1 (the concatenated
// key), backend address back into reg 1.
func dnatExprs(shard string, n uint32) []expr.Any {
	const reg32_00, reg32_01 = 8, 9
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg32_00},
		&expr.Numgen{Register: reg32_01, Modulus: n, Type: unix.NFT_NG_INCREMENTAL},
		&expr.Lookup{SourceRegister: reg32_00, DestRegister: 1, IsDestRegSet: true, SetName: shard},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
	}
}

func uniqKeys(del []nftables.SetElement) []nftables.SetElement {
	seen := make(map[string]bool, len(del))
	out := del[:0]
	for _, e := range del {
		if !seen[string(e.Key)] {
			seen[string(e.Key)] = true
			out = append(out, e)
		}
	}
	return out
}

func chunked(op func(*nftables.Set, []nftables.SetElement) error, s *nftables.Set, elems []nftables.SetElement) error {
	for len(elems) > 0 {
		n := min(len(elems), elemsPerMsg)
		if err := op(s, elems[:n]); err != nil {
			return fmt.Errorf("nft: map %s: %w", s.Name, err)
		}
		elems = elems[n:]
	}
	return nil
}

// Services implements lb.Backend: it reads the maps back from the kernel.
// Draining backends have no kernel object here (their connections live in
// conntrack, which keeps their DNAT): they are the ones last applied.
func (b *Backend) Services() ([]lb.Service, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn == nil {
		return nil, errors.New("nft: backend closed")
	}
	out, err := b.readKernel()
	if err != nil {
		return nil, err
	}
	for i, s := range out {
		if c, ok := b.cur[s.Mark]; ok && c.VIP == s.VIP {
			out[i].Draining = slices.Clone(c.Draining)
		}
	}
	return out, nil
}

// resync reloads the state after a failed transaction; the kernel rolled
// it back, but a map made lazily may or may not exist.
func (b *Backend) resync() {
	if sets, err := b.conn.GetSets(b.table); err == nil {
		b.haveShard = [shards]bool{}
		for _, st := range sets {
			for i := range b.backends {
				if st.Name == shardName(i) {
					b.haveShard[i] = true
				}
			}
		}
	}
}

func (b *Backend) readKernel() ([]lb.Service, error) {
	vips, err := b.conn.GetSetElements(b.vipMark)
	if err != nil {
		return nil, fmt.Errorf("nft: read map %s: %w", mapVIPMark, err)
	}
	var slots []nftables.SetElement
	for i, sh := range b.backends {
		if !b.haveShard[i] {
			continue
		}
		el, err := b.conn.GetSetElements(sh)
		if err != nil {
			return nil, fmt.Errorf("nft: read map %s: %w", sh.Name, err)
		}
		slots = append(slots, el...)
	}
	byMark := map[uint32]*lb.Service{}
	for _, e := range vips {
		if len(e.Key) != 4 || len(e.Val) != 4 {
			return nil, fmt.Errorf("nft: map %s holds a malformed element", mapVIPMark)
		}
		m := binary.NativeEndian.Uint32(e.Val)
		byMark[m] = &lb.Service{VIP: netip.AddrFrom4([4]byte(e.Key)), Mark: m}
	}
	type slot struct {
		i  uint32
		ip netip.Addr
	}
	bySlot := map[uint32][]slot{}
	for _, e := range slots {
		if len(e.Key) != 8 || len(e.Val) != 4 {
			return nil, fmt.Errorf("nft: map %s holds a malformed element", mapBackends)
		}
		m := binary.NativeEndian.Uint32(e.Key)
		bySlot[m] = append(bySlot[m], slot{binary.NativeEndian.Uint32(e.Key[4:]), netip.AddrFrom4([4]byte(e.Val))})
	}
	out := make([]lb.Service, 0, len(byMark))
	for m, s := range byMark {
		sl := bySlot[m]
		sort.Slice(sl, func(i, j int) bool { return sl[i].i < sl[j].i })
		for _, x := range sl {
			s.Backends = append(s.Backends, x.ip)
		}
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Mark < out[j].Mark })
	return out, nil
}

// Close implements lb.Backend: it deletes table ip minsw.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn == nil {
		return nil
	}
	b.conn.DelTable(b.table)
	err := b.conn.Flush()
	if err != nil && (errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOENT)) {
		err = nil
	}
	b.release()
	if err != nil {
		return fmt.Errorf("nft: delete table ip %s: %w", TableName, err)
	}
	return nil
}

// Release drops the netlink socket and namespace handle but leaves the
// kernel objects in place (for a daemon that stops without tearing down).
func (b *Backend) Release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.release()
}

func (b *Backend) release() {
	if b.conn != nil {
		b.conn.CloseLasting()
		b.conn = nil
	}
	if b.nsFd >= 0 {
		unix.Close(b.nsFd)
		b.nsFd = -1
	}
	b.cur = map[uint32]lb.Service{}
}

// missing names the kernel feature behind a "not supported" error.
func missing(err error) error {
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, syscall.EPROTONOSUPPORT) || errors.Is(err, unix.ENOENT) && strings.Contains(err.Error(), "nat") {
		return fmt.Errorf("kernel lacks nftables support (CONFIG_NF_TABLES, NFT_NAT, NFT_NUMGEN, NFT_CT): %w", err)
	}
	return err
}
