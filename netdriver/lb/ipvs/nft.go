package ipvs

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/minsw/minsw/netdriver/internal/nftmap"
)

// TableName is the nftables table (family ip) that holds the backend's
// marks and SNAT. It differs from the nftables backend's table so that one
// backend's Close never removes the other's objects.
const TableName = "minsw_ipvs"

// Names inside TableName, as `nft list ruleset` shows them:
//
//	table ip minsw_ipvs {
//		map vip_marks { type ipv4_addr : mark }
//		set marks { type mark }
//		chain input { type filter hook input priority mangle; meta mark set ip daddr map @vip_marks }
//		chain postrouting { type nat hook postrouting priority srcnat; meta mark @marks snat ip to <lb endpoint> }
//	}
//
// One map lookup marks a packet to any VIP and one set lookup picks the
// packets IPVS forwarded, so the per-packet cost does not grow with the
// number of services (the seed's per-VIP iptables rules would). The mark is
// set in input because the VIPs are local addresses of the namespace: IPVS
// takes the packet at LOCAL_IN, after the mangle priority.
const (
	vipMapName   = "vip_marks"
	markSetName  = "marks"
	inputChain   = "input"
	postChain    = "postrouting"
	ipv4DaddrOff = 16
)

// nftObjects names the kernel objects of one namespace's table.
type nftObjects struct {
	table  *nftables.Table
	vipMap *nftables.Set
	marks  *nftables.Set
	input  *nftables.Chain
	post   *nftables.Chain
}

func newNFTObjects() nftObjects {
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName}
	return nftObjects{
		table: t,
		vipMap: &nftables.Set{Table: t, Name: vipMapName, IsMap: true,
			KeyType: nftables.TypeIPAddr, DataType: nftables.TypeMark},
		marks: &nftables.Set{Table: t, Name: markSetName, KeyType: nftables.TypeMark, KeyByteOrder: binaryutil.NativeEndian},
		input: &nftables.Chain{Table: t, Name: inputChain, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityMangle},
		post: &nftables.Chain{Table: t, Name: postChain, Type: nftables.ChainTypeNAT,
			Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource},
	}
}

// ensure makes the table, its sets and chains if missing and replaces the
// two rules, in one transaction: a table left by a crashed daemon is
// adopted with its map elements, and its rules are never duplicated.
func (o nftObjects) ensure(c *nftables.Conn, nsFd int, lbAddr netip.Addr) error {
	// The VIP map first, in a transaction of its own: it carries the data
	// byte order that makes `nft list ruleset` print the true marks.
	if err := nftmap.MakeVIPMarkMap(nsFd, TableName, vipMapName); err != nil {
		return nftErr("create table "+TableName, err)
	}
	c.AddTable(o.table)
	if err := c.AddSet(o.marks, nil); err != nil {
		return err
	}
	c.AddChain(o.input)
	c.AddChain(o.post)
	c.FlushChain(o.input)
	c.FlushChain(o.post)
	lb4 := lbAddr.As4()
	c.AddRule(&nftables.Rule{Table: o.table, Chain: o.input, Exprs: []expr.Any{
		// meta mark set ip daddr map @vip_marks
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: ipv4DaddrOff, Len: 4},
		&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: o.vipMap.Name},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
	}})
	c.AddRule(&nftables.Rule{Table: o.table, Chain: o.post, Exprs: []expr.Any{
		// meta mark @marks snat ip to <lb endpoint>
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Lookup{SourceRegister: 1, SetName: o.marks.Name, SetID: o.marks.ID},
		&expr.Immediate{Register: 1, Data: lb4[:]},
		&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
	}})
	return nftErr("create table "+TableName, c.Flush())
}

// read returns the VIP→mark map and the SNAT mark set as the kernel holds
// them; a missing table reads as empty.
func (o nftObjects) read(c *nftables.Conn) (map[uint32]netip.Addr, map[uint32]bool, error) {
	vips := map[uint32]netip.Addr{}
	marks := map[uint32]bool{}
	els, err := c.GetSetElements(o.vipMap)
	if errors.Is(err, unix.ENOENT) {
		return vips, marks, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("lb/ipvs: read map %s: %w", vipMapName, err)
	}
	for _, e := range els {
		vip, ok := netip.AddrFromSlice(e.Key)
		if !ok || len(e.Val) != 4 {
			continue
		}
		vips[binaryutil.NativeEndian.Uint32(e.Val)] = vip
	}
	els, err = c.GetSetElements(o.marks)
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return nil, nil, fmt.Errorf("lb/ipvs: read set %s: %w", markSetName, err)
	}
	for _, e := range els {
		if len(e.Key) == 4 {
			marks[binaryutil.NativeEndian.Uint32(e.Key)] = true
		}
	}
	return vips, marks, nil
}

// queue adds the element changes of p to c's batch. With deletions only
// it queues only deletions, and likewise for additions.
func (o nftObjects) queue(c *nftables.Conn, delVIPs []netip.Addr, delMarks []uint32, addVIPs []vipMark, addMarks []uint32) error {
	if len(delVIPs) > 0 {
		els := make([]nftables.SetElement, len(delVIPs))
		for i, v := range delVIPs {
			k := v.As4()
			els[i] = nftables.SetElement{Key: k[:]}
		}
		if err := c.SetDeleteElements(o.vipMap, els); err != nil {
			return err
		}
	}
	if len(delMarks) > 0 {
		if err := c.SetDeleteElements(o.marks, markElements(delMarks)); err != nil {
			return err
		}
	}
	if len(addVIPs) > 0 {
		els := make([]nftables.SetElement, len(addVIPs))
		for i, a := range addVIPs {
			k := a.VIP.As4()
			els[i] = nftables.SetElement{Key: k[:], Val: binaryutil.NativeEndian.PutUint32(a.Mark)}
		}
		if err := c.SetAddElements(o.vipMap, els); err != nil {
			return err
		}
	}
	if len(addMarks) > 0 {
		if err := c.SetAddElements(o.marks, markElements(addMarks)); err != nil {
			return err
		}
	}
	return nil
}

func markElements(marks []uint32) []nftables.SetElement {
	els := make([]nftables.SetElement, len(marks))
	for i, m := range marks {
		els[i] = nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(m)}
	}
	return els
}

// nftErr names the kernel feature a failed transaction most likely lacks:
// the kernel answers a missing module with a bare ENOENT or EOPNOTSUPP.
func nftErr(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EPROTONOSUPPORT), errors.Is(err, unix.EAFNOSUPPORT):
		return fmt.Errorf("lb/ipvs: %s: kernel has no nftables (CONFIG_NF_TABLES, module nf_tables): %w", what, err)
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.EOPNOTSUPP):
		return fmt.Errorf("lb/ipvs: %s: kernel lacks an nftables feature the rules need "+
			"(modules nft_chain_nat, nft_nat, nf_nat, nf_conntrack): %w", what, err)
	default:
		return fmt.Errorf("lb/ipvs: %s: %w", what, err)
	}
}
