package chaos

import (
	"fmt"
	"os/exec"
	"strings"
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

func (p Partition) nft(script string) error {
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft: %v: %s", err, out)
	}
	return nil
}

// Isolate cuts m from every other manager of c, both ways.
func (p Partition) Isolate(c *Cluster, m *Manager) error {
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {\n chain output {\n  type filter hook output priority 0; policy accept;\n", p.Table)
	for _, o := range c.Managers {
		if o == m {
			continue
		}
		fmt.Fprintf(&b, "  meta skgid %d tcp dport %d drop\n", m.Gid, o.Port)
		fmt.Fprintf(&b, "  meta skgid %d tcp dport %d drop\n", o.Gid, m.Port)
	}
	b.WriteString(" }\n}\n")
	_ = p.Heal()
	return p.nft(b.String())
}

// Heal removes the partition (and the table).
func (p Partition) Heal() error {
	if err := exec.Command("nft", "list", "table", "inet", p.Table).Run(); err != nil {
		return nil // no table: nothing cut
	}
	return p.nft(fmt.Sprintf("delete table inet %s\n", p.Table))
}
