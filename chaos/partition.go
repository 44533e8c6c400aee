package chaos

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Partition cuts TCP between managers with nftables. All managers share
// 127.0.0.1, so a packet's sender is told by the group its process runs as
// (meta skgid) and its receiver by the destination port: cutting a from b
// drops a's packets to b's port and b's packets to a's. Established
// connections stall as a real partition would make them. The rules live in
// a table of their own, removed by Heal.
type Partition struct {
	Table string
}

// Isolate cuts m from every other manager of c, both ways.
func (p Partition) Isolate(c *Cluster, m *Manager) error {
	if err := p.Heal(); err != nil {
		return err
	}
	conn := &nftables.Conn{}
	t := conn.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: p.Table})
	accept := nftables.ChainPolicyAccept
	ch := conn.AddChain(&nftables.Chain{Name: "output", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	for _, o := range c.Managers {
		if o == m {
			continue
		}
		conn.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: dropTCP(m.Gid, o.Port)})
		conn.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: dropTCP(o.Gid, m.Port)})
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("partition: table inet %s: %w", p.Table, err)
	}
	return nil
}

// dropTCP is `meta skgid <gid> tcp dport <port> drop`.
func dropTCP(gid, port int) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeySKGID, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(uint32(gid))},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(uint16(port))},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}

// Heal removes the partition (and the table).
func (p Partition) Heal() error {
	conn := &nftables.Conn{}
	tables, err := conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return fmt.Errorf("partition: list tables: %w", err)
	}
	for _, t := range tables {
		if t.Name == p.Table {
			conn.DelTable(t)
			if err := conn.Flush(); err != nil {
				return fmt.Errorf("partition: delete table inet %s: %w", p.Table, err)
			}
		}
	}
	return nil // no table: nothing cut
}
