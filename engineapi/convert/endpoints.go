package convert

import (
	"fmt"
	"net/netip"

	"github.com/docker/docker/api/types/network"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// MACFromIP derives an endpoint's MAC from its IPv4 address as Docker does
// (02:42 followed by the four address bytes).
func MACFromIP(cidr string) string {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() {
		return ""
	}
	b := p.Addr().As4()
	return fmt.Sprintf("02:42:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
}

// ContainerName is a task's container name: <service>.<slot>.<id>, or
// <service>.<node>.<id> for a global task.
func ContainerName(t *api.Task) string {
	return TaskName(t) + "." + t.GetId()
}

// NetworkEndpoints is what docker's network inspect shows of network n on
// node self: the node's lb endpoint ("lb-<net>") and running tasks
// (Containers), and the nodes that take part (Peers).
func NetworkEndpoints(out *network.Inspect, n *api.Network, self string, nodes []*api.Node, tasks []*api.Task) {
	if out.Containers == nil {
		out.Containers = map[string]network.EndpointResource{}
	}
	for _, node := range nodes {
		for _, a := range node.GetLbAttachments() {
			if a.GetNetworkId() != n.GetId() || len(a.GetAddresses()) == 0 {
				continue
			}
			out.Peers = append(out.Peers, network.PeerInfo{Name: node.GetDescription().GetHostname(), IP: node.GetStatus().GetAddr()})
			if node.GetId() == self {
				mac := a.GetMacAddress()
				if mac == "" {
					mac = MACFromIP(a.GetAddresses()[0])
				}
				out.Containers["lb-"+n.GetSpec().GetName()] = network.EndpointResource{
					Name: n.GetSpec().GetName() + "-endpoint", EndpointID: a.GetEndpointId(), MacAddress: mac, IPv4Address: a.GetAddresses()[0],
				}
			}
		}
	}
	for _, t := range tasks {
		cid := t.GetStatus().GetContainer().GetContainerId()
		// A container is on its networks from its start (a health-checked
		// task stays starting until healthy) until it stops.
		st := t.GetStatus().GetState()
		if cid == "" || (st != api.TaskState_TASK_STATE_RUNNING && st != api.TaskState_TASK_STATE_STARTING) || t.GetNodeId() != self {
			continue
		}
		for _, a := range t.GetNetworks() {
			if a.GetNetworkId() != n.GetId() || len(a.GetAddresses()) == 0 {
				continue
			}
			mac := a.GetMacAddress()
			if mac == "" {
				mac = MACFromIP(a.GetAddresses()[0])
			}
			out.Containers[cid] = network.EndpointResource{Name: ContainerName(t), EndpointID: a.GetEndpointId(), MacAddress: mac, IPv4Address: a.GetAddresses()[0]}
		}
	}
}
