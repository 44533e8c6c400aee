package netagent

import (
	"net/netip"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// taskResolvers are the task's own DNS servers (docker's --dns), port 53,
// in the user's order. The container's resolv.conf names only the embedded
// server, which relays the names the swarm does not hold to these (else to
// the node's). The API checks the addresses; one that still does not parse
// is skipped rather than failing the task's networking.
func taskResolvers(t *api.Task) []netip.AddrPort {
	var out []netip.AddrPort
	for _, s := range t.GetSpec().GetContainer().GetDnsConfig().GetNameservers() {
		a, err := netip.ParseAddr(s)
		if err != nil {
			continue
		}
		out = append(out, netip.AddrPortFrom(a.Unmap(), 53))
	}
	return out
}
