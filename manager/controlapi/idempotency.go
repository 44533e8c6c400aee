package controlapi

import (
	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// maxIdempotencyKey bounds a client's idempotency key.
const maxIdempotencyKey = 128

// A create request may carry an idempotency key, chosen by the client and
// reused when it retries after an unknown outcome. The object a create
// makes keeps the key in its meta, so the retry is answered with that
// object instead of making a second one or failing with "name in use" on
// its own earlier attempt.

// priorService returns the service an earlier create with r's key made,
// nil when there is none (or r has no key).
func priorService(tx store.ReadTx, r *api.CreateServiceRequest) (*api.Service, error) {
	key := r.GetIdempotencyKey()
	if key == "" {
		return nil, nil
	}
	if len(key) > maxIdempotencyKey {
		return nil, errdefs.InvalidArgument("idempotency key is %d characters long, the limit is %d", len(key), maxIdempotencyKey)
	}
	s := tx.ServiceWithKey(key)
	if s == nil {
		return nil, nil
	}
	if name := r.GetSpec().GetName(); name != "" && name != s.GetSpec().GetName() {
		return nil, errdefs.InvalidArgument("idempotency key %s was already used to create service %s", key, s.GetSpec().GetName())
	}
	return s, nil
}

// priorNetwork is priorService for networks.
func priorNetwork(tx store.ReadTx, r *api.CreateNetworkRequest) (*api.Network, error) {
	key := r.GetIdempotencyKey()
	if key == "" {
		return nil, nil
	}
	if len(key) > maxIdempotencyKey {
		return nil, errdefs.InvalidArgument("idempotency key is %d characters long, the limit is %d", len(key), maxIdempotencyKey)
	}
	n := tx.NetworkWithKey(key)
	if n == nil {
		return nil, nil
	}
	if name := r.GetSpec().GetName(); name != n.GetSpec().GetName() {
		return nil, errdefs.InvalidArgument("idempotency key %s was already used to create network %s", key, n.GetSpec().GetName())
	}
	return n, nil
}

// racedService looks again for the object of an earlier attempt when a
// create lost to a write with its own name: that write may be the earlier
// attempt, committed after this one checked.
func (s *Server) racedService(r *api.CreateServiceRequest, err error) *api.Service {
	if r.GetIdempotencyKey() == "" || !errdefs.Is(err, errdefs.KindAlreadyExists) {
		return nil
	}
	var prior *api.Service
	s.st.View(func(tx store.ReadTx) { prior, _ = priorService(tx, r) })
	return prior
}

// racedNetwork is racedService for networks.
func (s *Server) racedNetwork(r *api.CreateNetworkRequest, err error) *api.Network {
	if r.GetIdempotencyKey() == "" || !errdefs.Is(err, errdefs.KindAlreadyExists) {
		return nil
	}
	var prior *api.Network
	s.st.View(func(tx store.ReadTx) { prior, _ = priorNetwork(tx, r) })
	return prior
}
