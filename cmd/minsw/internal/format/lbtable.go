package format

import (
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/minsw/minsw/netdriver"
	"github.com/minsw/minsw/netdriver/ingress"
	"github.com/minsw/minsw/netdriver/lb"
)

// LBTable prints what `minsw lb inspect` shows: per network, its lb
// namespace's services and backends in ipvsadm's layout (a draining
// backend at weight 0), and on the routing mesh's network its published
// ports.
func LBTable(w io.Writer, infos []netdriver.NetworkInfo) error {
	var b strings.Builder
	for i, n := range infos {
		if i > 0 {
			b.WriteString("\n")
		}
		name := n.Name
		if name == "" {
			name = n.ID
		}
		fmt.Fprintf(&b, "Network %s (%s)  lb %s  endpoint %v  backend %s\n", name, TruncateID(n.ID),
			filepath.Base(n.LBNetns), n.LBAddr, n.Backend)
		if n.Ingress != nil {
			writeIngress(&b, n)
		}
		b.WriteString("Prot LocalAddress:Port Scheduler Flags\n")
		b.WriteString("  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")
		for _, s := range n.Services {
			fmt.Fprintf(&b, "FWM  %d rr                        (VIP %v, mark %#x%s)\n", s.Mark, s.VIP, s.Mark, publishedBy(n.Ingress, s.Mark))
			writeBackends(&b, n.Conns, s.Mark, s.Backends, 1)
			// Draining: no new connection, established ones kept.
			writeBackends(&b, n.Conns, s.Mark, s.Draining, 0)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeBackends(b *strings.Builder, conns []lb.Conns, mark uint32, backends []netip.Addr, weight int) {
	for _, be := range backends {
		c := connsOf(conns, mark, be)
		fmt.Fprintf(b, "  -> %-28s Masq    %d      %-10d %d\n", be.String()+":0", weight, c.Active, c.Inactive)
	}
}

// connsOf is the count of one backend of one service (zeros when the
// backend could not count).
func connsOf(all []lb.Conns, mark uint32, be netip.Addr) lb.Conns {
	for _, c := range all {
		if c.Mark == mark && c.Backend == be {
			return c
		}
	}
	return lb.Conns{}
}

// writeIngress prints the routing mesh's block: each published port and
// where this node sends it.
func writeIngress(b *strings.Builder, n netdriver.NetworkInfo) {
	in := n.Ingress
	fmt.Fprintf(b, "Routing mesh: %s  gateway leg %v\n", filepath.Base(n.LBNetns), in.SboxAddr)
	mark := map[ingress.Port]uint32{}
	for _, m := range in.Marks {
		mark[m.Port] = m.Mark
	}
	if len(in.Published) == 0 {
		b.WriteString("  (no published ports)\n")
	}
	for _, p := range in.Published {
		if m, ok := mark[p.Port]; ok {
			fmt.Fprintf(b, "  *:%-14s -> %s mark %#x\n", p.Port, netdriver.IngressSbox, m)
		} else {
			fmt.Fprintf(b, "  *:%-14s -> %v (host mode)\n", p.Port, p.To)
		}
	}
}

// publishedBy lists the published ports that carry mark, for a service
// line of the ingress network.
func publishedBy(in *netdriver.IngressInfo, mark uint32) string {
	if in == nil {
		return ""
	}
	var ps []string
	for _, m := range in.Marks {
		if m.Mark == mark {
			ps = append(ps, m.Port.String())
		}
	}
	if len(ps) == 0 {
		return ""
	}
	return ", published " + strings.Join(ps, " ")
}
