package store

import (
	"bytes"
	"sync"

	"google.golang.org/protobuf/proto"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Stored objects are never modified in place (readers clone before they
// change one), so equal parts of them can be one value in memory. Every
// task decoded from a raft entry or a snapshot carries its own copy of its
// service's task spec and endpoint, and of the IDs and names it shares with
// the version it replaces: at 100,000 tasks of 10,000 services those copies
// are most of a manager's heap. shareTask points a task being stored at the
// equal values already held (the version it replaces first, then its
// service's), so the store holds one spec per service instead of one per
// task, and the decoded copies become garbage.
func shareTask(t, old *api.Task, svc *api.Service) {
	if old != nil {
		shareSpec(t, old.GetSpec())
		shareEndpoint(t, old.GetEndpoint())
		t.ServiceId = sameString(t.ServiceId, old.ServiceId)
		t.ServiceName = sameString(t.ServiceName, old.ServiceName)
		t.NodeId = sameString(t.NodeId, old.NodeId)
		if m, om := t.GetMeta(), old.GetMeta(); m != nil && om != nil && m.CreatedAt != om.CreatedAt && proto.Equal(m.CreatedAt, om.CreatedAt) {
			m.CreatedAt = om.CreatedAt
		}
		if len(t.Networks) == len(old.Networks) {
			for i, n := range t.Networks {
				if n != old.Networks[i] && proto.Equal(n, old.Networks[i]) {
					t.Networks[i] = old.Networks[i]
				}
			}
		}
	}
	if svc != nil {
		shareSpec(t, svc.GetSpec().GetTask())
		shareEndpoint(t, svc.GetEndpoint())
		t.ServiceId = sameString(t.ServiceId, svc.Id)
		t.ServiceName = sameString(t.ServiceName, svc.GetSpec().GetName())
	}
}

func shareSpec(t *api.Task, held *api.TaskSpec) {
	if held != nil && t.Spec != held && t.Spec != nil && sameMessage(t.Spec, held) {
		t.Spec = held
	}
}

func shareEndpoint(t *api.Task, held *api.Endpoint) {
	if held != nil && t.Endpoint != held && t.Endpoint != nil && sameMessage(t.Endpoint, held) {
		t.Endpoint = held
	}
}

// sameMessage says whether a and b encode alike (deterministically: map
// entries in key order): then either can stand for the other. It is what
// the sharing asks, and ten times cheaper than proto.Equal's reflection
// for a task spec (0.3 us against 3 us; a restore of 100,000 tasks
// compared each task's spec and endpoint with its service's, a fifth of
// its CPU). Messages that differ only in ways proto.Equal forgives (a
// float's zero sign, unknown fields' order) are simply not shared.
func sameMessage(a, b proto.Message) bool {
	bufs := shareBufs.Get().(*[2][]byte)
	defer shareBufs.Put(bufs)
	var err error
	if bufs[0], err = deterministic.MarshalAppend(bufs[0][:0], a); err != nil {
		return false
	}
	if bufs[1], err = deterministic.MarshalAppend(bufs[1][:0], b); err != nil {
		return false
	}
	return bytes.Equal(bufs[0], bufs[1])
}

var (
	deterministic = proto.MarshalOptions{Deterministic: true}
	shareBufs     = sync.Pool{New: func() any { return new([2][]byte) }}
)

// sameString returns held when it equals s, so s's own copy can be freed.
func sameString(s, held string) string {
	if s == held {
		return held
	}
	return s
}
