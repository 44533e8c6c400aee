// Package ingress programs the nftables side of the routing mesh, in the
// three namespaces a published port crosses:
//
//	node namespace  table ip minsw_ingress    (NodeTable)
//	  map publish { inet_proto . inet_service : ipv4_addr . inet_service }
//	  chain prerouting (nat, dstnat)  fib daddr type local dnat to meta l4proto . th dport map @publish
//	  chain output     (nat, dstnat)  fib daddr type local dnat to meta l4proto . th dport map @publish
//	  chain postrouting (nat, srcnat) ip saddr 127.0.0.0/8 oifname <gateway bridge> masquerade
//
//	ingress_sbox    table ip minsw_ingress    (SboxTable)
//	  map port_mark { inet_proto . inet_service : mark }
//	  chain prerouting (filter, mangle) ip daddr <sbox gateway-side address> meta mark set meta l4proto . th dport map @port_mark
//
//	task namespace  table ip minsw_ingress    (SetRedirects)
//	  map redirect { inet_proto . inet_service : inet_service }
//	  chain prerouting (nat, dstnat)  ip daddr <task's ingress address> redirect to meta l4proto . th dport map @redirect
//
// A connection to a node's address on published port P is DNATed to the
// ingress_sbox (ingress mode) or straight to a local task's gateway-bridge
// address and target port (host mode); in the sbox it gets the service's
// mark, which the lb backend (nftables or ipvs) spreads over the service's
// tasks on the ingress network keeping P, and the task's namespace maps P
// to the target port. Every per-packet step is one hash lookup, whatever
// the number of published ports. The package must not touch links,
// addresses or the lb backend's own table.
package ingress

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/minsw/minsw/netdriver/internal/nftmap"
)

// TableName is the table this package keeps in each namespace.
const TableName = "minsw_ingress"

const (
	mapPublish  = "publish"
	mapPortMark = "port_mark"
	mapRedirect = "redirect"
	elemsPerMsg = 1000
	rtnLocal    = 2 // RTN_LOCAL, as fib ... type local compares it
)

// Protocols of published ports.
const (
	TCP = unix.IPPROTO_TCP
	UDP = unix.IPPROTO_UDP
)

// Port is a protocol and port number, as a published port is keyed.
type Port struct {
	Proto uint8 // TCP or UDP
	Port  uint16
}

// ParseProto maps "tcp"/"udp" ("" is tcp) to the protocol number.
func ParseProto(s string) (uint8, error) {
	switch strings.ToLower(s) {
	case "", "tcp":
		return TCP, nil
	case "udp":
		return UDP, nil
	}
	return 0, fmt.Errorf("ingress: protocol %q (want tcp or udp)", s)
}

// ProtoName is "tcp" or "udp".
func ProtoName(p uint8) string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return strconv.Itoa(int(p))
}

func (p Port) String() string { return fmt.Sprintf("%d/%s", p.Port, ProtoName(p.Proto)) }

func (p Port) validate() error {
	if (p.Proto != TCP && p.Proto != UDP) || p.Port == 0 {
		return fmt.Errorf("ingress: bad published port %d proto %d", p.Port, p.Proto)
	}
	return nil
}

// Compare orders ports by number, then protocol.
func (p Port) Compare(q Port) int {
	if p.Port != q.Port {
		return int(p.Port) - int(q.Port)
	}
	return int(p.Proto) - int(q.Proto)
}

// Publish maps a published port of the node to where the node sends it:
// the ingress_sbox on the same port (ingress mode) or a local task's
// gateway-bridge address and target port (host mode).
type Publish struct {
	Port
	To netip.AddrPort
}

// PortMark gives a published port the firewall mark of its service in
// the ingress_sbox.
type PortMark struct {
	Port
	Mark uint32
}

// Redirect maps a published port arriving at a task to its target port.
type Redirect struct {
	Port
	Target uint16
}

func key(p Port) []byte {
	k := make([]byte, 8)
	k[0] = p.Proto
	binary.BigEndian.PutUint16(k[4:], p.Port)
	return k
}

func keyPort(k []byte) (Port, bool) {
	if len(k) < 6 {
		return Port{}, false
	}
	return Port{Proto: k[0], Port: binary.BigEndian.Uint16(k[4:6])}, true
}

var (
	keyType = nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService)
	toType  = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)
)

// portKeyExprs loads meta l4proto . th dport into register 1 (8 bytes).
func portKeyExprs() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Payload{DestRegister: 9, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
	}
}

func daddrIs(a netip.Addr) []expr.Any {
	b := a.As4()
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b[:]},
	}
}

func ifname(s string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, s)
	return b
}

func conn(nsFd int) (*nftables.Conn, error) {
	c, err := nftables.New(nftables.WithNetNSFd(nsFd))
	if err != nil {
		return nil, fmt.Errorf("ingress: nftables: %w", err)
	}
	return c, nil
}

// hasTable reports whether the namespace holds TableName.
func hasTable(c *nftables.Conn) (bool, error) {
	ts, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return false, fmt.Errorf("ingress: list tables: %w", err)
	}
	return slices.ContainsFunc(ts, func(t *nftables.Table) bool { return t.Name == TableName }), nil
}

// DeleteTable removes TableName from the namespace; a missing table is no
// error.
func DeleteTable(nsFd int) error {
	c, err := conn(nsFd)
	if err != nil {
		return err
	}
	ok, err := hasTable(c)
	if err != nil || !ok {
		return err
	}
	c.DelTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName})
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("ingress: delete table %s: %w", TableName, err)
	}
	return nil
}

// program rewrites TableName in one transaction: the table is flushed and
// its map and chains made again with elems. Rewriting is what keeps the
// code simple; with a thousand ports it costs one batch of a few tens of
// kilobytes.
func program(nsFd int, set *nftables.Set, elems []nftables.SetElement, chains func(c *nftables.Conn, t *nftables.Table)) error {
	c, err := conn(nsFd)
	if err != nil {
		return err
	}
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName}
	set.Table = t
	if ok, err := hasTable(c); err != nil {
		return err
	} else if ok {
		c.DelTable(t)
	}
	c.AddTable(t)
	if err := c.AddSet(set, nil); err != nil {
		return fmt.Errorf("ingress: map %s: %w", set.Name, err)
	}
	for i := 0; i < len(elems); i += elemsPerMsg {
		if err := c.SetAddElements(set, elems[i:min(i+elemsPerMsg, len(elems))]); err != nil {
			return fmt.Errorf("ingress: map %s: %w", set.Name, err)
		}
	}
	chains(c, t)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("ingress: table ip %s: %w", TableName, err)
	}
	return nil
}

// SetNodeTable makes the node namespace's table hold exactly pubs;
// bridge is the gateway bridge (loopback clients are masqueraded onto
// it). No pubs removes the table.
func SetNodeTable(nsFd int, bridge string, pubs []Publish) error {
	if len(pubs) == 0 {
		return DeleteTable(nsFd)
	}
	seen := map[Port]bool{}
	elems := make([]nftables.SetElement, 0, len(pubs))
	for _, p := range pubs {
		if err := p.validate(); err != nil {
			return err
		}
		if !p.To.Addr().Is4() || p.To.Port() == 0 {
			return fmt.Errorf("ingress: port %v: bad destination %v", p.Port, p.To)
		}
		if seen[p.Port] {
			return fmt.Errorf("ingress: port %v published twice", p.Port)
		}
		seen[p.Port] = true
		v := make([]byte, 8)
		a := p.To.Addr().As4()
		copy(v, a[:])
		binary.BigEndian.PutUint16(v[4:], p.To.Port())
		elems = append(elems, nftables.SetElement{Key: key(p.Port), Val: v})
	}
	set := &nftables.Set{Name: mapPublish, IsMap: true, Concatenation: true, KeyType: keyType, DataType: toType}
	return program(nsFd, set, elems, func(c *nftables.Conn, t *nftables.Table) {
		accept := nftables.ChainPolicyAccept
		dnat := func(name string, hook *nftables.ChainHook) {
			ch := c.AddChain(&nftables.Chain{Table: t, Name: name, Type: nftables.ChainTypeNAT,
				Hooknum: hook, Priority: nftables.ChainPriorityNATDest, Policy: &accept})
			ex := []expr.Any{
				&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(rtnLocal)},
			}
			ex = append(ex, portKeyExprs()...)
			ex = append(ex,
				&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: set.Name, SetID: set.ID},
				&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 9, Specified: true},
			)
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: ex})
		}
		dnat("prerouting", nftables.ChainHookPrerouting)
		dnat("output", nftables.ChainHookOutput)
		post := c.AddChain(&nftables.Chain{Table: t, Name: "postrouting", Type: nftables.ChainTypeNAT,
			Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource, Policy: &accept})
		c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{127}},
			&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(bridge)},
			&expr.Masq{},
		}})
	})
}

// SetSboxTable makes the ingress_sbox's table mark exactly marks, for
// packets to addr (the sbox's gateway-side address). No marks removes the
// table.
func SetSboxTable(nsFd int, addr netip.Addr, marks []PortMark) error {
	if len(marks) == 0 {
		return DeleteTable(nsFd)
	}
	if !addr.Is4() {
		return fmt.Errorf("ingress: sbox address %v is not IPv4", addr)
	}
	seen := map[Port]bool{}
	elems := make([]nftables.SetElement, 0, len(marks))
	for _, m := range marks {
		if err := m.validate(); err != nil {
			return err
		}
		if m.Mark == 0 || seen[m.Port] {
			return fmt.Errorf("ingress: port %v: mark %#x missing or port given twice", m.Port, m.Mark)
		}
		seen[m.Port] = true
		elems = append(elems, nftables.SetElement{Key: key(m.Port), Val: binaryutil.NativeEndian.PutUint32(m.Mark)})
	}
	return programSbox(nsFd, addr, elems)
}

// programSbox rewrites the sbox table in place: its map port_mark is made
// by nftmap (google/nftables cannot give it the mark's byte order, without
// which nft lists 0x106 as 0x06010000), so unlike program the table is not
// remade in the transaction. A table of another kind is removed first; then
// the map is made if missing, and one transaction replaces its elements and
// the chain's rule.
func programSbox(nsFd int, addr netip.Addr, elems []nftables.SetElement) error {
	c, err := conn(nsFd)
	if err != nil {
		return err
	}
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName}
	if ok, err := hasTable(c); err != nil {
		return err
	} else if ok {
		if _, err := c.GetSetByName(t, mapPortMark); err != nil {
			if err := DeleteTable(nsFd); err != nil {
				return err
			}
		}
	}
	if err := nftmap.MakeMarkMap(nsFd, TableName, mapPortMark, nftmap.ProtoDotService); err != nil {
		return fmt.Errorf("ingress: %w", err)
	}
	set := &nftables.Set{Table: t, Name: mapPortMark, IsMap: true, Concatenation: true, KeyType: keyType, DataType: nftables.TypeMark}
	c.FlushSet(set)
	for i := 0; i < len(elems); i += elemsPerMsg {
		if err := c.SetAddElements(set, elems[i:min(i+elemsPerMsg, len(elems))]); err != nil {
			return fmt.Errorf("ingress: map %s: %w", set.Name, err)
		}
	}
	accept := nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{Table: t, Name: "prerouting", Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityMangle, Policy: &accept})
	c.FlushChain(ch)
	ex := daddrIs(addr)
	ex = append(ex, portKeyExprs()...)
	ex = append(ex,
		&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: set.Name},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
	)
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: ex})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("ingress: table ip %s: %w", TableName, err)
	}
	return nil
}

// SetRedirects makes a task namespace map published ports arriving at
// addr (its ingress address) to their target ports; ports published on
// their own number need nothing. No redirects removes the table.
func SetRedirects(nsFd int, addr netip.Addr, rs []Redirect) error {
	var elems []nftables.SetElement
	seen := map[Port]bool{}
	for _, r := range rs {
		if err := r.validate(); err != nil {
			return err
		}
		if r.Target == 0 || r.Target == r.Port.Port || seen[r.Port] {
			continue
		}
		seen[r.Port] = true
		elems = append(elems, nftables.SetElement{Key: key(r.Port), Val: binaryutil.BigEndian.PutUint16(r.Target)})
	}
	if len(elems) == 0 {
		return DeleteTable(nsFd)
	}
	if !addr.Is4() {
		return fmt.Errorf("ingress: task address %v is not IPv4", addr)
	}
	set := &nftables.Set{Name: mapRedirect, IsMap: true, Concatenation: true, KeyType: keyType, DataType: nftables.TypeInetService}
	return program(nsFd, set, elems, func(c *nftables.Conn, t *nftables.Table) {
		accept := nftables.ChainPolicyAccept
		ch := c.AddChain(&nftables.Chain{Table: t, Name: "prerouting", Type: nftables.ChainTypeNAT,
			Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest, Policy: &accept})
		ex := daddrIs(addr)
		ex = append(ex, portKeyExprs()...)
		ex = append(ex,
			&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: set.Name, SetID: set.ID},
			&expr.Redir{RegisterProtoMin: 1},
		)
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: ex})
	})
}

// elements reads a map of TableName; a missing table reads as empty.
func elements(nsFd int, name string) ([]nftables.SetElement, error) {
	c, err := conn(nsFd)
	if err != nil {
		return nil, err
	}
	if ok, err := hasTable(c); err != nil || !ok {
		return nil, err
	}
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName}
	s, err := c.GetSetByName(t, name)
	if err != nil {
		return nil, fmt.Errorf("ingress: map %s: %w", name, err)
	}
	els, err := c.GetSetElements(s)
	if err != nil {
		return nil, fmt.Errorf("ingress: map %s: %w", name, err)
	}
	return els, nil
}

// NodePublished reads back the node namespace's published ports.
func NodePublished(nsFd int) ([]Publish, error) {
	els, err := elements(nsFd, mapPublish)
	var out []Publish
	for _, e := range els {
		p, ok := keyPort(e.Key)
		if !ok || len(e.Val) < 6 {
			continue
		}
		a := netip.AddrFrom4([4]byte(e.Val[:4]))
		out = append(out, Publish{Port: p, To: netip.AddrPortFrom(a, binary.BigEndian.Uint16(e.Val[4:6]))})
	}
	slices.SortFunc(out, func(a, b Publish) int { return a.Compare(b.Port) })
	return out, err
}

// SboxMarks reads back the ingress_sbox's port marks.
func SboxMarks(nsFd int) ([]PortMark, error) {
	els, err := elements(nsFd, mapPortMark)
	var out []PortMark
	for _, e := range els {
		p, ok := keyPort(e.Key)
		if !ok || len(e.Val) < 4 {
			continue
		}
		out = append(out, PortMark{Port: p, Mark: binaryutil.NativeEndian.Uint32(e.Val[:4])})
	}
	slices.SortFunc(out, func(a, b PortMark) int { return a.Compare(b.Port) })
	return out, err
}
