package network

import (
	"context"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/minsw/minsw/client"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// gwbridgeOf names the Docker network the gateway bridge stands for, so
// a user who knows docker_gwbridge finds it.
const gwbridgeOf = "minsw.network.docker-equivalent"

// inspectLocal is `network inspect` of one of the node's own networks
// (minsw_gwbridge, host, none) when ref names no swarm network: docker's
// shape, scope local. ok is false when ref names none of them either.
func inspectLocal(ctx context.Context, cl *client.Client, ref string) (networkInspect, bool) {
	resp, err := cl.Networks.ListLocalNetworks(ctx, &minswv1.ListLocalNetworksRequest{})
	if err != nil {
		return networkInspect{}, false
	}
	for _, n := range resp.GetNetworks() {
		if n.GetName() == ref || n.GetId() == ref || len(ref) >= 3 && strings.HasPrefix(n.GetId(), ref) {
			return localFields(n), true
		}
	}
	return networkInspect{}, false
}

// localFields is docker's inspect of a local network: the gateway bridge
// reads as docker_gwbridge does (bridge driver, no inter-container traffic,
// masquerade), and says which Docker network it is.
func localFields(n *minswv1.LocalNetwork) networkInspect {
	out := networkInspect{
		Name: n.GetName(), ID: n.GetId(), Scope: "local", Driver: n.GetDriver(),
		IPAM:       ipam{Driver: "default", Config: []ipamConfig{}},
		Containers: map[string]endpointInfo{}, Options: map[string]string{}, Labels: map[string]string{},
	}
	if n.GetSubnet() != "" {
		out.IPAM.Config = append(out.IPAM.Config, ipamConfig{Subnet: n.GetSubnet(), Gateway: n.GetGateway()})
	}
	if n.GetDriver() == "bridge" {
		out.Options = map[string]string{
			"com.docker.network.bridge.name":                 n.GetName(),
			"com.docker.network.bridge.enable_icc":           "false",
			"com.docker.network.bridge.enable_ip_masquerade": "true",
		}
		out.Labels[gwbridgeOf] = "docker_gwbridge"
	}
	return out
}

// isNotFound says err is the manager's "network ... not found".
func isNotFound(err error) bool { return status.Code(err) == codes.NotFound }
