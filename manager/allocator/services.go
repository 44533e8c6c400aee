package allocator

import (
	"context"
	"errors"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// serviceRetries bounds how often one pass writes a service's allocation
// again after losing a race with another write of it.
const serviceRetries = 3

// ServiceAllocated reports whether svc's endpoint matches its spec: a VIP
// and mark on every network it needs one on (and none elsewhere), and each
// port of the spec planned, a published port given where only the target
// was. The Control API writes specs; only the allocator loop makes this
// true, and `service create` waits for it before answering.
func ServiceAllocated(tx store.ReadTx, svc *api.Service) bool {
	ep := svc.GetEndpoint()
	if ep == nil || !proto.Equal(ep.GetSpec(), svc.GetSpec().GetEndpoint()) {
		return false
	}
	want := map[string]bool{}
	for _, id := range vipNetworks(tx, svc) {
		want[id] = true
	}
	if len(ep.GetVirtualIps()) != len(want) {
		return false
	}
	for _, v := range ep.GetVirtualIps() {
		if !want[v.GetNetworkId()] {
			return false
		}
		delete(want, v.GetNetworkId()) // a second VIP on one network fails the count
	}
	spec := svc.GetSpec().GetEndpoint().GetPorts()
	if len(ep.GetPorts()) != len(spec) {
		return false
	}
	for i, sp := range spec {
		p := ep.GetPorts()[i]
		if p.GetTargetPort() != sp.GetTargetPort() || p.GetProtocol() != sp.GetProtocol() || p.GetPublishMode() != sp.GetPublishMode() ||
			(sp.GetPublishedPort() != 0 && p.GetPublishedPort() != sp.GetPublishedPort()) ||
			(sp.GetPublishMode() == api.PublishMode_PUBLISH_MODE_INGRESS && p.GetPublishedPort() == 0) {
			return false
		}
	}
	return true
}

// allocateServices gives the services in ids (every service when all)
// their published ports, VIPs and marks, and those whose write failed
// before another try, and returns those it allocated. This loop is the
// only place that hands out and frees a service's addresses.
func (a *Allocator) allocateServices(ctx context.Context, ids map[string]bool, all bool) (done []string) {
	var todo []string
	a.st.View(func(tx store.ReadTx) {
		if all {
			for _, s := range tx.Services() {
				if !ServiceAllocated(tx, s) {
					todo = append(todo, s.GetId())
				}
			}
			return
		}
		for id := range ids {
			if s := tx.Service(id); s != nil && !ServiceAllocated(tx, s) {
				todo = append(todo, id)
			}
		}
		for id := range a.unallocated {
			if !ids[id] {
				if s := tx.Service(id); s != nil && !ServiceAllocated(tx, s) {
					todo = append(todo, id)
				}
			}
		}
	})
	before := a.unallocated
	a.unallocated = map[string]string{}
	for _, id := range todo {
		if ctx.Err() != nil {
			return done
		}
		if err := a.allocateService(ctx, id); err != nil {
			a.unallocated[id] = err.Error()
			if before[id] != err.Error() { // once per reason, not every pass
				a.log.Warn("allocating service addresses", "service", id, "err", err)
			}
			continue
		}
		done = append(done, id)
	}
	return done
}

// allocateService plans one service's ports and VIPs and stores them,
// again after losing a race with another write of the service. VIPs on
// networks it left are freed once the write has landed; what it took is
// given back only when the write failed for certain.
func (a *Allocator) allocateService(ctx context.Context, id string) error {
	var err error
	for range serviceRetries {
		var undo func()
		var dropped []*api.VirtualIP
		err = a.st.Update(ctx, func(tx *store.Tx) error {
			cur := tx.Service(id)
			if cur == nil || ServiceAllocated(tx.ReadTx, cur) {
				return nil
			}
			svc := proto.Clone(cur).(*api.Service)
			if err := PlanPorts(tx.ReadTx, svc); err != nil {
				return err
			}
			u, err := a.allocateVIPs(tx.ReadTx, svc)
			if err != nil {
				return err
			}
			undo = u
			dropped = DroppedVIPs(cur, svc)
			return tx.Update(svc)
		})
		if err == nil {
			a.ReleaseVIPs(dropped)
			return nil
		}
		if undo != nil && !mayHaveCommitted(err) {
			undo()
		}
		if !errdefs.Is(err, errdefs.KindConflict) {
			return err
		}
	}
	return err
}

// mayHaveCommitted reports whether a failed write's entry may still be
// applied (the leader lost its term mid-commit, the loop is stopping): its
// addresses then stay taken, which is the safe side; the next leader
// rebuilds its pools from the store.
func mayHaveCommitted(err error) bool {
	return errdefs.Is(err, errdefs.KindOutcomeUnknown) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// CheckVIPs refuses svc when a network it needs a new VIP on has no
// address left, as the allocator loop sees it, changing nothing: the
// Control API's synchronous answer to a create the loop could not serve.
// Two creates racing for a network's last address may both pass; the
// loop then gives it to one and logs why the other has none.
func (a *Allocator) CheckVIPs(tx store.ReadTx, svc *api.Service) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	have := map[string]bool{}
	for _, v := range svc.GetEndpoint().GetVirtualIps() {
		have[v.GetNetworkId()] = true
	}
	for _, id := range vipNetworks(tx, svc) {
		if have[id] {
			continue
		}
		p, err := a.pool(tx, id)
		if err != nil {
			return err
		}
		if p.Free() == 0 {
			return errdefs.FailedPrecondition("no addresses left in %s", p.Subnet())
		}
	}
	return nil
}
