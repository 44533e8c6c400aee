package node

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"

	"github.com/minsw/minsw/netdriver"
	"github.com/minsw/minsw/netdriver/gwbridge"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/netagent"
)

// localNetworks are the node's own networks, as docker lists them beside
// the swarm's: the gateway bridge (found in the node's namespace underlay,
// "" for the daemon's) once made, with its endpoints eps, host and none.
// The IDs are stable for the node: derived from its ID and the name.
func localNetworks(nodeID, underlay string, eps []netagent.EgressEndpoint) []*api.LocalNetwork {
	id := func(name string) string {
		sum := sha256.Sum256([]byte("minsw local network/" + nodeID + "/" + name))
		return hex.EncodeToString(sum[:])
	}
	var out []*api.LocalNetwork
	if gw, ok := gwbridge.Addr(underlay, gwbridge.DefaultName); ok {
		n := gwbridgeNetwork(id(gwbridge.DefaultName), gw)
		n.Endpoints = gwbridgeEndpoints(eps)
		out = append(out, n)
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

// gwbridgeEndpoints are the gateway bridge's endpoints as docker lists
// docker_gwbridge's: keyed by container ID (the ingress sandbox by
// "ingress-sbox"), named gateway_<12 characters of the key>.
func gwbridgeEndpoints(eps []netagent.EgressEndpoint) []*api.LocalEndpoint {
	var out []*api.LocalEndpoint
	for _, e := range eps {
		key := e.ContainerID
		if key == netdriver.IngressSbox {
			key = "ingress-sbox"
		}
		out = append(out, &api.LocalEndpoint{Key: key, Name: "gateway_" + key[:min(12, len(key))], Ipv4Address: e.Addr.String()})
	}
	return out
}
