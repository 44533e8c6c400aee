package store

import (
	"fmt"
	"net/netip"

	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// indexHolds indexes services by what they hold exclusively: each VIP (per
// network), each firewall mark and each published ingress port. The store
// refuses a write that would give one of them a second holder, whatever
// the allocator's memory says: it is the last word, applied by every
// manager's FSM in log order.
const indexHolds = "holds"

// holdKey is one exclusively held thing, as the index and messages name it.
type holdKey struct {
	key  string
	what string // for the message: "VIP 10.0.1.2 on network 3x..."
}

func holdsOf(s *api.Service) []holdKey {
	var out []holdKey
	for _, v := range s.GetEndpoint().GetVirtualIps() {
		addr := v.GetAddr()
		if p, err := netip.ParsePrefix(addr); err == nil {
			addr = p.Addr().String()
		}
		if addr != "" {
			out = append(out, holdKey{key: "vip/" + v.GetNetworkId() + "/" + addr, what: fmt.Sprintf("VIP %s on network %s", addr, v.GetNetworkId())})
		}
		if m := v.GetFwmark(); m != 0 {
			out = append(out, holdKey{key: fmt.Sprintf("mark/%d", m), what: fmt.Sprintf("firewall mark %#x", m)})
		}
	}
	// A port the spec asks for is held from the moment the service is
	// written, before the allocator copies it into the endpoint, so two
	// users asking for one port at once cannot both be accepted.
	ports := append(append([]*api.PortConfig(nil), s.GetEndpoint().GetPorts()...), s.GetSpec().GetEndpoint().GetPorts()...)
	for _, p := range ports {
		if p.GetPublishMode() == api.PublishMode_PUBLISH_MODE_INGRESS && p.GetPublishedPort() != 0 {
			out = append(out, holdKey{key: fmt.Sprintf("port/%d/%d", p.GetProtocol(), p.GetPublishedPort()),
				what: fmt.Sprintf("published port %d", p.GetPublishedPort())})
		}
	}
	return out
}

// holdsIndexer is the multi-valued indexer of indexHolds.
type holdsIndexer struct{}

func (holdsIndexer) FromObject(obj any) (bool, [][]byte, error) {
	s, ok := obj.(*api.Service)
	if !ok {
		return false, nil, nil
	}
	hs := holdsOf(s)
	if len(hs) == 0 {
		return false, nil, nil
	}
	out := make([][]byte, 0, len(hs))
	seen := map[string]bool{}
	for _, h := range hs {
		if !seen[h.key] {
			seen[h.key] = true
			out = append(out, append([]byte(h.key), 0))
		}
	}
	return true, out, nil
}

func (holdsIndexer) FromArgs(args ...any) ([]byte, error) { return stringIndexer{}.FromArgs(args...) }

// checkHolders refuses s if another service holds one of the things s
// holds. The kind is Conflict: the writer lost a race for an address and
// may retry with a fresh allocation.
func (tx *Tx) checkHolders(s *api.Service) error {
	for _, h := range holdsOf(s) {
		it, err := tx.txn.Get(TableService, indexHolds, h.key)
		if err != nil {
			return err
		}
		for o := it.Next(); o != nil; o = it.Next() {
			other := o.(*api.Service)
			if other.GetId() != s.GetId() {
				return errdefs.Conflict("%s is already held by service %s", h.what, other.GetSpec().GetName())
			}
		}
	}
	return nil
}

// checkNetwork refuses a new network whose VNI another network has or
// whose subnet overlaps another's: the network's creator plans both
// without a lock, so two creates at once may choose alike, and the log
// lets the first have them (Conflict: the second plans again).
func (tx *Tx) checkNetwork(n *api.Network) error {
	sub, subErr := netip.ParsePrefix(n.GetSubnet())
	it, err := tx.txn.Get(TableNetwork, indexID)
	if err != nil {
		return err
	}
	for o := it.Next(); o != nil; o = it.Next() {
		other := o.(*api.Network)
		if other.GetId() == n.GetId() {
			continue
		}
		if n.GetVni() != 0 && other.GetVni() == n.GetVni() {
			return errdefs.Conflict("VNI %d is already held by network %s", n.GetVni(), other.GetSpec().GetName())
		}
		if os, err := netip.ParsePrefix(other.GetSubnet()); err == nil && subErr == nil && os.Overlaps(sub) {
			return errdefs.Conflict("subnet %s overlaps with network %s (%s)", sub, other.GetSpec().GetName(), os)
		}
	}
	return nil
}
