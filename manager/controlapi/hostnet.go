package controlapi

import (
	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// checkHostNetwork refuses what `--network host` cannot give: a task in
// its node's own network stack has no other network to join and no port to
// publish (it binds the node's ports itself).
func checkHostNetwork(spec *api.ServiceSpec) error {
	if !spec.GetTask().OnHostNetwork() {
		return nil
	}
	if n := len(spec.GetTask().GetNetworks()); n > 1 {
		return errdefs.InvalidArgument("network host cannot be combined with other networks: its tasks use the node's own network stack")
	}
	if p := spec.GetEndpoint().GetPorts(); len(p) > 0 {
		return errdefs.InvalidArgument("a service on network host publishes no ports: its tasks listen on the node's own ports (remove --publish %d)", p[0].GetPublishedPort())
	}
	return nil
}

// checkPredefinedName refuses a swarm network named as one of every node's
// own networks (network ls lists them), as docker refuses them.
func checkPredefinedName(name string) error {
	switch name {
	case api.HostNetwork, "none", "bridge", "minsw_gwbridge":
		return errdefs.AlreadyExists("network with name %s already exists: it is a predefined network of every node", name)
	}
	return nil
}
