package network

import (
	"context"
	"maps"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/minsw/minsw/client"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

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

// localFields is docker's inspect of a local network, with the options
// and labels the node gives it (the gateway bridge reads as
// docker_gwbridge does).
func localFields(n *minswv1.LocalNetwork) networkInspect {
	out := networkInspect{
		Name: n.GetName(), ID: n.GetId(), Scope: "local", Driver: n.GetDriver(),
		IPAM:       ipam{Driver: "default", Config: []ipamConfig{}},
		Containers: map[string]endpointInfo{}, Options: maps.Clone(n.GetOptions()), Labels: maps.Clone(n.GetLabels()),
	}
	if out.Options == nil {
		out.Options = map[string]string{}
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if n.GetSubnet() != "" {
		out.IPAM.Config = append(out.IPAM.Config, ipamConfig{Subnet: n.GetSubnet(), Gateway: n.GetGateway()})
	}
	for _, e := range n.GetEndpoints() {
		out.Containers[e.GetKey()] = endpointInfo{Name: e.GetName(), IPv4Address: e.GetIpv4Address()}
	}
	return out
}

// isNotFound says err is the manager's "network ... not found".
func isNotFound(err error) bool { return status.Code(err) == codes.NotFound }
