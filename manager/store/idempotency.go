package store

import (
	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// keyedTables are the tables with an idempotency key index: those whose
// creates a client may retry with a key.
var keyedTables = map[string]bool{TableService: true, TableNetwork: true, TableSecret: true, TableConfig: true}

// withKey returns the objects of table created with idempotency key key:
// an index lookup in the keyed tables, a scan elsewhere.
func (tx ReadTx) withKey(table, key string) []Object {
	if key == "" {
		return nil
	}
	if keyedTables[table] {
		return list[Object](tx, table, indexKey, key)
	}
	var out []Object
	if table == TableTask {
		for _, t := range tx.Tasks() {
			if t.GetMeta().GetIdempotencyKey() == key {
				out = append(out, t)
			}
		}
		return out
	}
	for _, o := range list[Object](tx, table, indexID) {
		if o.GetMeta().GetIdempotencyKey() == key {
			out = append(out, o)
		}
	}
	return out
}

// ServiceWithKey returns the service a create with idempotency key key
// made, nil if none.
func (tx ReadTx) ServiceWithKey(key string) *api.Service {
	for _, o := range tx.withKey(TableService, key) {
		return o.(*api.Service)
	}
	return nil
}

// NetworkWithKey is ServiceWithKey for networks.
func (tx ReadTx) NetworkWithKey(key string) *api.Network {
	for _, o := range tx.withKey(TableNetwork, key) {
		return o.(*api.Network)
	}
	return nil
}

// checkIdempotencyKey refuses a create whose idempotency key an object of
// the table already carries: two attempts of one client request (the
// first still in flight when the retry went out) make one object, even
// when the request named none and each attempt drew its own name.
func (tx *Tx) checkIdempotencyKey(table string, o Object) error {
	key := o.GetMeta().GetIdempotencyKey()
	for _, other := range tx.withKey(table, key) {
		if other.GetId() != o.GetId() {
			return errdefs.AlreadyExists("%s %s was already created by this request (idempotency key %s)", table, other.GetId(), key)
		}
	}
	return nil
}
