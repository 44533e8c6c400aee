package convert

import (
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// VXLANIDOption is the driver option docker shows an overlay's VNI under.
const VXLANIDOption = "com.docker.network.driver.overlay.vxlanid_list"

func driver(n *api.Network) string {
	if d := n.GetSpec().GetDriver(); d != "" {
		return d
	}
	return "overlay"
}

func networkOptions(n *api.Network) map[string]string {
	opts := labels(n.GetSpec().GetDriverOpts())
	if n.GetVni() != 0 {
		opts[VXLANIDOption] = vni(n)
	}
	return opts
}

// SwarmNetwork is a minsw network in docker's swarm shape (as tasks carry it).
func SwarmNetwork(n *api.Network) swarm.Network {
	s := n.GetSpec()
	ipam := &swarm.IPAMOptions{Driver: swarm.Driver{Name: "default"}}
	if n.GetSubnet() != "" {
		ipam.Configs = []swarm.IPAMConfig{{Subnet: n.GetSubnet(), Gateway: n.GetGateway()}}
	}
	return swarm.Network{
		ID:   n.GetId(),
		Meta: meta(n.GetMeta()),
		Spec: swarm.NetworkSpec{
			Annotations:         swarm.Annotations{Name: s.GetName(), Labels: labels(s.GetLabels())},
			DriverConfiguration: &swarm.Driver{Name: driver(n), Options: copyMap(s.GetDriverOpts())},
			Internal:            s.GetInternal(),
			Attachable:          s.GetAttachable(),
			Ingress:             s.GetIngress(),
			Scope:               "swarm",
		},
		DriverState: swarm.Driver{Name: driver(n), Options: networkOptions(n)},
		IPAMOptions: ipam,
	}
}

// Network is a minsw network as `docker network ls|inspect` shows it.
func Network(n *api.Network) network.Inspect {
	s := n.GetSpec()
	out := network.Inspect{
		Name:       s.GetName(),
		ID:         n.GetId(),
		Created:    ts(n.GetMeta().GetCreatedAt()),
		Scope:      "swarm",
		Driver:     driver(n),
		EnableIPv4: true,
		IPAM:       network.IPAM{Driver: "default", Config: []network.IPAMConfig{}},
		Internal:   s.GetInternal(),
		Attachable: s.GetAttachable(),
		Ingress:    s.GetIngress(),
		Containers: map[string]network.EndpointResource{},
		Options:    networkOptions(n),
		Labels:     labels(s.GetLabels()),
	}
	if n.GetSubnet() != "" {
		out.IPAM.Config = append(out.IPAM.Config, network.IPAMConfig{Subnet: n.GetSubnet(), Gateway: n.GetGateway()})
	}
	return out
}

// LocalNetwork is one of the node's own networks (docker_gwbridge...),
// with its subnet and the options and labels the node gives it.
func LocalNetwork(n *api.LocalNetwork) network.Inspect {
	out := network.Inspect{
		Name: n.GetName(), ID: n.GetId(), Scope: "local", Driver: n.GetDriver(), EnableIPv4: true,
		IPAM:       network.IPAM{Driver: "default", Config: []network.IPAMConfig{}},
		Containers: map[string]network.EndpointResource{}, Options: labels(n.GetOptions()), Labels: labels(n.GetLabels()),
	}
	if n.GetSubnet() != "" {
		out.IPAM.Config = append(out.IPAM.Config, network.IPAMConfig{Subnet: n.GetSubnet(), Gateway: n.GetGateway()})
	}
	for _, e := range n.GetEndpoints() {
		out.Containers[e.GetKey()] = network.EndpointResource{Name: e.GetName(), IPv4Address: e.GetIpv4Address()}
	}
	return out
}

// NetworkSpecFrom is the minsw spec for `docker network create`'s request.
func NetworkSpecFrom(r network.CreateRequest) (*api.NetworkSpec, error) {
	if r.Name == "" {
		return nil, invalid("network name is required")
	}
	switch r.Driver {
	case "overlay":
	case "", "bridge":
		return nil, unsupported("Driver", "local bridge networks: minsw networks are swarm-scoped, create it with --driver overlay")
	default:
		return nil, unsupported("Driver", "the network driver "+r.Driver)
	}
	switch r.Scope {
	case "", "swarm":
	default:
		return nil, unsupported("Scope", "network scope "+r.Scope)
	}
	switch {
	case r.EnableIPv6 != nil && *r.EnableIPv6:
		return nil, unsupported("EnableIPv6", "IPv6 networks")
	case r.EnableIPv4 != nil && !*r.EnableIPv4:
		return nil, unsupported("EnableIPv4", "networks without IPv4")
	case r.ConfigOnly || r.ConfigFrom != nil:
		return nil, unsupported("ConfigOnly", "config-only networks")
	}
	out := &api.NetworkSpec{Name: r.Name, Labels: copyMap(r.Labels), Driver: "overlay", DriverOpts: copyMap(r.Options),
		Internal: r.Internal, Attachable: r.Attachable, Ingress: r.Ingress}
	if ipam := r.IPAM; ipam != nil {
		if ipam.Driver != "" && ipam.Driver != "default" {
			return nil, unsupported("IPAM.Driver", "the IPAM driver "+ipam.Driver)
		}
		if len(ipam.Options) > 0 {
			return nil, unsupported("IPAM.Options", "IPAM options")
		}
		if len(ipam.Config) > 1 {
			return nil, unsupported("IPAM.Config", "more than one subnet per network")
		}
		for _, c := range ipam.Config {
			if c.IPRange != "" || len(c.AuxAddress) > 0 {
				return nil, unsupported("IPAM.Config", "ip ranges and auxiliary addresses")
			}
			out.Subnet, out.Gateway = c.Subnet, c.Gateway
		}
	}
	return out, nil
}
