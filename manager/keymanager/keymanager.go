// Package keymanager keeps the swarm's gossip (memberlist) keys: on the
// leader it puts a new primary key in front every rotation period, keeping
// the previous one so nodes that have not heard of the new key yet are still
// understood. Workers get the keys through their dispatcher session; this
// package only writes them to the store.
package keymanager

import (
	"context"
	"crypto/rand"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// KeySize is an AES-256 key, as memberlist takes it.
const KeySize = 32

// DefaultRotation is how often the leader makes a new gossip key (Swarm:
// 12 hours).
const DefaultRotation = 12 * time.Hour

// KeyManager is the gossip-key leader loop.
type KeyManager struct {
	st       *store.Store
	rotation time.Duration
	clock    func() time.Time
	log      *slog.Logger
}

// New returns a key manager over the store; rotation <= 0 takes
// DefaultRotation, a nil clock time.Now.
func New(st *store.Store, rotation time.Duration, clock func() time.Time, log *slog.Logger) *KeyManager {
	if rotation <= 0 {
		rotation = DefaultRotation
	}
	if clock == nil {
		clock = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &KeyManager{st: st, rotation: rotation, clock: clock, log: log.With("component", "keymanager")}
}

// NewKey makes a memberlist key.
func NewKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	return k, nil
}

// Run rotates the keys every rotation period, on the leader, until ctx ends.
func (k *KeyManager) Run(ctx context.Context) error {
	for {
		var c *api.Cluster
		k.st.View(func(tx store.ReadTx) { c = tx.Cluster() })
		wait := k.rotation
		if c != nil {
			made := time.Unix(0, c.GetGossipKeysRotatedUnix())
			if age := k.clock().Sub(made); len(c.GetGossipKeys()) == 0 || age >= k.rotation {
				if err := k.Rotate(ctx); err != nil {
					k.log.Warn("rotating gossip keys", "err", err)
					wait = 10 * time.Second
				}
			} else {
				wait = k.rotation - age
			}
		} else {
			wait = time.Second
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// Rotate makes a new primary gossip key now.
func (k *KeyManager) Rotate(ctx context.Context) error {
	key, err := NewKey()
	if err != nil {
		return err
	}
	return k.st.Update(ctx, func(tx *store.Tx) error {
		c := tx.Cluster()
		if c == nil {
			return errdefs.FailedPrecondition("this node is not part of a swarm")
		}
		nc := proto.Clone(c).(*api.Cluster)
		keys := [][]byte{key}
		if len(c.GetGossipKeys()) > 0 {
			keys = append(keys, c.GetGossipKeys()[0])
		}
		nc.GossipKeys, nc.GossipKeysRotatedUnix = keys, k.clock().UnixNano()
		return tx.Update(nc)
	})
}
