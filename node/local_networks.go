package node

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/minsw/minsw/netdriver/gwbridge"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// localNetworks are the node's own networks, as docker lists them beside
// the swarm's: the gateway bridge (found in the node's namespace underlay,
// "" for the daemon's) once made, host and none. The IDs are stable for
// the node: derived from its ID and the name.
func localNetworks(nodeID, underlay string) []*api.LocalNetwork {
	id := func(name string) string {
		sum := sha256.Sum256([]byte("minsw local network/" + nodeID + "/" + name))
		return hex.EncodeToString(sum[:])
	}
	var out []*api.LocalNetwork
	if gw, ok := gwbridge.Addr(underlay, gwbridge.DefaultName); ok {
		out = append(out, &api.LocalNetwork{Id: id(gwbridge.DefaultName), Name: gwbridge.DefaultName, Driver: "bridge",
			Subnet: gw.Masked().String(), Gateway: gw.Addr().String()})
	}
	out = append(out, &api.LocalNetwork{Id: id(api.HostNetwork), Name: api.HostNetwork, Driver: "host"})
	out = append(out, &api.LocalNetwork{Id: id("none"), Name: "none", Driver: "null"})
	return out
}
