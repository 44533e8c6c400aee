package netagent

import (
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/minsw/minsw/netdriver"
)

// EgressEndpoint is one namespace's leg on the gateway bridge: a task
// container's, or the ingress sandbox's (ContainerID netdriver.IngressSbox).
type EgressEndpoint struct {
	ContainerID string
	Addr        netip.Prefix
}

// egressView is the gateway bridge's endpoints as of the end of the last
// change to them, under a lock of its own: readers (network ls/inspect)
// never wait on kmu, which is held through slow kernel work.
type egressView struct {
	mu  sync.Mutex
	eps []EgressEndpoint
}

// EgressEndpoints lists the gateway bridge's endpoints, as docker's inspect
// of docker_gwbridge lists its containers: every networked task container
// of this node, and the ingress sandbox once the node joined the routing
// mesh; sorted by address. It answers from the view the last Prepare,
// Release, Teardown or routing-mesh change left, without waiting for one
// under way.
func (a *Agent) EgressEndpoints() []EgressEndpoint {
	a.eview.mu.Lock()
	defer a.eview.mu.Unlock()
	return slices.Clone(a.eview.eps)
}

// storeEgressLocked refreshes the endpoints' view from the tasks and the
// routing mesh. Call it with kmu held, before releasing it, wherever
// those change (a deferred call after kmu's deferred unlock).
func (a *Agent) storeEgressLocked() {
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
	a.eview.mu.Lock()
	a.eview.eps = out
	a.eview.mu.Unlock()
}
