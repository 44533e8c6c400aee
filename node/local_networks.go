package node

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"

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
		out = append(out, gwbridgeNetwork(id(gwbridge.DefaultName), gw))
	}
	out = append(out, &api.LocalNetwork{Id: id(api.HostNetwork), Name: api.HostNetwork, Driver: "host"})
	out = append(out, &api.LocalNetwork{Id: id("none"), Name: "none", Driver: "null"})
	return out
}

// gwbridgeNetwork is the gateway bridge as docker shows docker_gwbridge:
// its options (no inter-container traffic, masquerade), and a label naming
// the Docker network it stands for, so a user who knows docker_gwbridge
// finds it.
func gwbridgeNetwork(id string, gw netip.Prefix) *api.LocalNetwork {
	return &api.LocalNetwork{Id: id, Name: gwbridge.DefaultName, Driver: "bridge",
		Subnet: gw.Masked().String(), Gateway: gw.Addr().String(),
		Options: map[string]string{
			"com.docker.network.bridge.name":                 gwbridge.DefaultName,
			"com.docker.network.bridge.enable_icc":           "false",
			"com.docker.network.bridge.enable_ip_masquerade": "true",
		},
		Labels: map[string]string{api.LabelDockerEquivalent: "docker_gwbridge"}}
}
