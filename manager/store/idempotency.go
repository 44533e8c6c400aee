package store

import (
	"github.com/minsw/minsw/internal/errdefs"
)

// checkIdempotencyKey refuses a create whose idempotency key an object of
// the table already carries: two attempts of one client request (the
// first still in flight when the retry went out) make one object, even
// when the request named none and each attempt drew its own name.
func (tx *Tx) checkIdempotencyKey(table string, o Object) error {
	key := o.GetMeta().GetIdempotencyKey()
	if key == "" {
		return nil
	}
	var all []Object
	if table == TableTask {
		for _, t := range tx.Tasks() {
			all = append(all, t)
		}
	} else {
		all = list[Object](tx.ReadTx, table, indexID)
	}
	for _, other := range all {
		if other.GetMeta().GetIdempotencyKey() == key && other.GetId() != o.GetId() {
			return errdefs.AlreadyExists("%s %s was already created by this request (idempotency key %s)", table, other.GetId(), key)
		}
	}
	return nil
}
