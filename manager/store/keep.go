package store

import (
	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// keepStored is the action recording the update of t, which replaces before
// (the task as the transaction held it): the parts t shares with before
// (the same spec, endpoint or network list, not merely equal ones) are left
// out of the raft entry and flagged kept, so a placement or a status report
// does not encode, decode and compare its task's whole spec. prev is the
// action already recorded for this task in the transaction (nil if none):
// a part is kept only if every write of the transaction kept it, so the
// FSM's stored version (the one the first write read) still holds it.
func keepStored(t, before *api.Task, prev *api.StoreAction) *api.StoreAction {
	spec := t.Spec != nil && t.Spec == before.Spec
	ep := t.Endpoint != nil && t.Endpoint == before.Endpoint
	nets := len(t.Networks) > 0 && len(t.Networks) == len(before.Networks) && &t.Networks[0] == &before.Networks[0]
	if prev != nil {
		spec, ep, nets = spec && prev.KeepsSpec, ep && prev.KeepsEndpoint, nets && prev.KeepsNetworks
	}
	sent := t
	if spec || ep || nets {
		sent = ShallowTask(t)
		// The FSM gives an update the stored version's creation time.
		sent.Meta.CreatedAt = nil
		if spec {
			sent.Spec = nil
		}
		if ep {
			sent.Endpoint = nil
		}
		if nets {
			sent.Networks = nil
		}
	}
	a := newAction(api.StoreActionKind_STORE_ACTION_UPDATE, sent)
	a.KeepsSpec, a.KeepsEndpoint, a.KeepsNetworks = spec, ep, nets
	return a
}

func keepsAny(a *api.StoreAction) bool {
	return a.GetKeepsSpec() || a.GetKeepsEndpoint() || a.GetKeepsNetworks()
}

// takeKept gives o, the object of update a, the parts a keeps from old,
// the stored version (whose version the caller has checked).
func takeKept(a *api.StoreAction, o, old Object) error {
	if !keepsAny(a) {
		return nil
	}
	t, ok := o.(*api.Task)
	ot, okOld := old.(*api.Task)
	if !ok || !okOld {
		return errdefs.InvalidArgument("store: only a task update may keep parts of the stored version")
	}
	if a.KeepsSpec {
		t.Spec = ot.Spec
	}
	if a.KeepsEndpoint {
		t.Endpoint = ot.Endpoint
	}
	if a.KeepsNetworks {
		t.Networks = ot.Networks
	}
	return nil
}
