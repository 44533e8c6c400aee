package allocator

import (
	"sort"

	"google.golang.org/protobuf/proto"

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
// are kept as given. A port another service asks for in its spec counts
// as held even before the allocator has given it: the store refuses a
// second holder either way. Only the allocator loop stores the plan; the
// Control API calls CheckPorts to refuse a taken port at once.
func PlanPorts(tx store.ReadTx, svc *api.Service) error {
	held := map[portKey]string{}
	for _, o := range tx.Services() {
		if o.GetId() == svc.GetId() {
			continue
		}
		for _, p := range append(append([]*api.PortConfig(nil), o.GetEndpoint().GetPorts()...), o.GetSpec().GetEndpoint().GetPorts()...) {
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

// CheckPorts refuses svc's published ports as PlanPorts would (a port
// another service holds or asks for, a port given twice, no dynamic port
// left), changing nothing: the Control API's synchronous answer to a user
// who publishes a taken port. The store stays the final arbiter of a race.
func CheckPorts(tx store.ReadTx, svc *api.Service) error {
	return PlanPorts(tx, proto.Clone(svc).(*api.Service))
}
