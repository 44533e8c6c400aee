package netagent

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/minsw/minsw/netdriver"
)

// EgressEndpoint is one namespace's leg on the gateway bridge: a task
// container's, or the ingress sandbox's (ContainerID netdriver.IngressSbox).
type EgressEndpoint struct {
	ContainerID string
	Addr        netip.Prefix
}

// EgressEndpoints lists the gateway bridge's endpoints, as docker's inspect
// of docker_gwbridge lists its containers: every networked task container
// of this node, and the ingress sandbox once the node joined the routing
// mesh; sorted by address.
func (a *Agent) EgressEndpoints() []EgressEndpoint {
	a.kmu.Lock()
	defer a.kmu.Unlock()
	var out []EgressEndpoint
	for _, lt := range a.tasks {
		if lt.egress.IsValid() {
			out = append(out, EgressEndpoint{ContainerID: lt.cid, Addr: lt.egress})
		}
	}
	if a.ingressID != "" {
		out = append(out, EgressEndpoint{ContainerID: netdriver.IngressSbox, Addr: a.drv.IngressSboxAddr()})
	}
	slices.SortFunc(out, func(x, y EgressEndpoint) int {
		if c := x.Addr.Addr().Compare(y.Addr.Addr()); c != 0 {
			return c
		}
		return strings.Compare(x.ContainerID, y.ContainerID)
	})
	return out
}
