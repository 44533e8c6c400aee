package node

import (
	"net"

	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/gossip"
)

// networkPeers are a network's Peers as docker's inspect shows them: each
// node's hostname and address (the node ID only from a node that sends no
// hostname).
func networkPeers(members []gossip.Member) []*api.GossipPeer {
	var out []*api.GossipPeer
	for _, m := range members {
		host, _, _ := net.SplitHostPort(m.Addr)
		name := m.Hostname
		if name == "" {
			name = m.Name
		}
		out = append(out, &api.GossipPeer{Name: name, Addr: host})
	}
	return out
}
