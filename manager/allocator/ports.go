package allocator

import (
	"sort"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Published ports are taken from this range when only the target is given,
// as Swarm does.
const (
	FirstDynamicPort = 30000
	LastDynamicPort  = 32767
)

type portKey struct {
	proto api.PortProtocol
	port  uint32
}

// PlanPorts fills svc.Endpoint.Ports from its spec: a requested published
// port (ingress mode) must not be held by another service; a port given
// only as a target gets the lowest free port of 30000-32767, or keeps the one
// it had if the service already held it. Host-mode ports are per node and
// are kept as given. Callers hold LockPorts across the plan and the write.
func PlanPorts(tx store.ReadTx, svc *api.Service) error {
	held := map[portKey]string{}
	for _, o := range tx.Services() {
		if o.GetId() == svc.GetId() {
			continue
		}
		for _, p := range o.GetEndpoint().GetPorts() {
			if p.GetPublishMode() == api.PublishMode_PUBLISH_MODE_INGRESS && p.GetPublishedPort() != 0 {
				held[portKey{p.GetProtocol(), p.GetPublishedPort()}] = o.GetSpec().GetName()
			}
		}
	}
	// What this service held before, for keeping dynamic ports stable.
	prev := map[portKey]uint32{}
	for _, p := range svc.GetEndpoint().GetPorts() {
		if p.GetPublishMode() == api.PublishMode_PUBLISH_MODE_INGRESS {
			prev[portKey{p.GetProtocol(), p.GetTargetPort()}] = p.GetPublishedPort()
		}
	}
	var out []*api.PortConfig
	mine := map[portKey]bool{}
	specPorts := svc.GetSpec().GetEndpoint().GetPorts()
	// Requested ports first, so a dynamic port never takes one asked for.
	order := make([]int, len(specPorts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		return specPorts[order[a]].GetPublishedPort() != 0 && specPorts[order[b]].GetPublishedPort() == 0
	})
	planned := make([]*api.PortConfig, len(specPorts))
	for _, i := range order {
		sp := specPorts[i]
		p := &api.PortConfig{Name: sp.GetName(), Protocol: sp.GetProtocol(), TargetPort: sp.GetTargetPort(),
			PublishedPort: sp.GetPublishedPort(), PublishMode: sp.GetPublishMode()}
		if p.GetPublishMode() == api.PublishMode_PUBLISH_MODE_INGRESS {
			if p.PublishedPort == 0 {
				if old, ok := prev[portKey{p.Protocol, p.TargetPort}]; ok && old != 0 && held[portKey{p.Protocol, old}] == "" && !mine[portKey{p.Protocol, old}] {
					p.PublishedPort = old
				} else {
					for port := uint32(FirstDynamicPort); port <= LastDynamicPort; port++ {
						k := portKey{p.Protocol, port}
						if held[k] == "" && !mine[k] {
							p.PublishedPort = port
							break
						}
					}
					if p.PublishedPort == 0 {
						return errdefs.FailedPrecondition("no free port left in %d-%d", FirstDynamicPort, LastDynamicPort)
					}
				}
			}
			k := portKey{p.Protocol, p.PublishedPort}
			if holder := held[k]; holder != "" {
				return errdefs.FailedPrecondition("port '%d' is already in use by service '%s' as an ingress port", p.PublishedPort, holder)
			}
			if mine[k] {
				return errdefs.InvalidArgument("port %d is published twice", p.PublishedPort)
			}
			mine[k] = true
		}
		planned[i] = p
	}
	out = append(out, planned...)
	if svc.Endpoint == nil {
		svc.Endpoint = &api.Endpoint{}
	}
	svc.Endpoint.Spec = svc.GetSpec().GetEndpoint()
	svc.Endpoint.Ports = out
	return nil
}

// UsesIngress reports whether a service publishes a port through the
// routing mesh (and so needs a VIP and task addresses on ingress).
func UsesIngress(ports []*api.PortConfig) bool {
	for _, p := range ports {
		if p.GetPublishMode() == api.PublishMode_PUBLISH_MODE_INGRESS {
			return true
		}
	}
	return false
}

// IngressNetwork returns the swarm's ingress network, nil if there is none.
func IngressNetwork(tx store.ReadTx) *api.Network {
	for _, n := range tx.Networks() {
		if n.GetSpec().GetIngress() {
			return n
		}
	}
	return nil
}

// LockPorts serialises port planning; call the returned func to unlock.
func (a *Allocator) LockPorts() func() {
	a.portMu.Lock()
	return a.portMu.Unlock
}
