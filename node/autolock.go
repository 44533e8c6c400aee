package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/ca"
	"github.com/minsw/minsw/manager/encryption"
	"github.com/minsw/minsw/manager/raftnode"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Autolock, as Swarm's: a manager seals its raft data (entries and
// snapshots) with a random data encryption key (DEK) that never leaves the
// node. The DEK sits in <data-root>/swarm/raft/dek.pem, plain while autolock
// is off and wrapped by the key-encryption key (KEK) from the cluster's
// unlock key while it is on; then the node's TLS key is sealed with the DEK
// too, so a restarted manager can neither serve nor join its swarm until
// `swarm unlock` gives the key. The unlock key lives in the cluster object
// (in raft, so sealed like the rest); every manager watches it and re-wraps
// its own DEK when autolock turns on or off or the key rotates. Workers
// have no raft data and are never locked.

// lockedMessage is Docker's, for any cluster call on a locked node.
const lockedMessage = "Swarm is encrypted and needs to be unlocked before it can be used. Please use \"minsw swarm unlock\" to unlock it."

// atRest is the node's encryption state.
type atRest struct {
	mu sync.Mutex
	// kek wraps the DEK on disk; nil: the DEK is plain (autolock off).
	kek []byte
	// keyAEAD is the DEK's node-key cipher: it opens a sealed TLS key, and
	// seals it while kek is set. nil on a node without a DEK (worker).
	keyAEAD *encryption.AEAD
}

func (n *Node) dekPath() string { return filepath.Join(n.raftDir(), "raft", "dek.pem") }

// openAtRest reads the DEK with kek (nil: only a plain one opens); no DEK
// at all is not an error (a worker, or a manager from before encryption,
// which gets one when its manager starts).
func (n *Node) openAtRest(kek []byte) error {
	n.rest.mu.Lock()
	defer n.rest.mu.Unlock()
	wrapped, err := encryption.DEKWrapped(n.dekPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	dek, err := encryption.ReadDEK(n.dekPath(), kek)
	if err != nil {
		return err
	}
	if n.rest.keyAEAD, err = encryption.New(dek, encryption.PurposeNodeKey); err != nil {
		return err
	}
	n.rest.kek = nil
	if wrapped {
		n.rest.kek = kek
	}
	return nil
}

// raftCipher returns the cipher raft seals with, making the DEK (plain) if
// this manager has none yet.
func (n *Node) raftCipher() (raftnode.Cipher, error) {
	n.rest.mu.Lock()
	defer n.rest.mu.Unlock()
	dek, err := encryption.ReadDEK(n.dekPath(), n.rest.kek)
	if errors.Is(err, os.ErrNotExist) {
		if dek, err = encryption.NewKey(); err != nil {
			return nil, err
		}
		if err = encryption.WriteDEK(n.dekPath(), dek, nil); err != nil {
			return nil, err
		}
		n.rest.kek = nil
	}
	if err != nil {
		return nil, fmt.Errorf("node: the raft data encryption key: %w", err)
	}
	if n.rest.keyAEAD, err = encryption.New(dek, encryption.PurposeNodeKey); err != nil {
		return nil, err
	}
	return encryption.New(dek, encryption.PurposeRaft)
}

// keyOpener opens a sealed node key (nil without a DEK).
func (n *Node) keyOpener() ca.KeySealer {
	n.rest.mu.Lock()
	defer n.rest.mu.Unlock()
	if n.rest.keyAEAD == nil {
		return nil
	}
	return n.rest.keyAEAD
}

// saveCredentials writes the node's key and certificates, the key sealed
// while autolock is on here. Every save goes through it, so a renewal
// racing an autolock change cannot leave the key in clear.
func (n *Node) saveCredentials(c *ca.Credentials) error {
	n.rest.mu.Lock()
	defer n.rest.mu.Unlock()
	var s ca.KeySealer
	if n.rest.kek != nil {
		s = n.rest.keyAEAD
	}
	return c.SaveSealed(n.certDir(), s)
}

// applyUnlockKey makes the disk match the cluster's unlock key ("" when
// autolock is off), for manager m: it stops as soon as m is not this node's
// manager any more (demotion, leave). The order keeps every crash point
// readable: on, the TLS key is sealed before the DEK is wrapped; off, the
// DEK is unwrapped before the TLS key is written plain.
func (n *Node) applyUnlockKey(m clusterManager, unlockKey string) error {
	var kek []byte
	if unlockKey != "" {
		var err error
		if kek, err = encryption.KEK(unlockKey); err != nil {
			return err
		}
	}
	n.rest.mu.Lock()
	defer n.rest.mu.Unlock()
	n.mu.Lock()
	current, creds := n.mgr == m, n.creds
	n.mu.Unlock()
	if !current || bytes.Equal(kek, n.rest.kek) || creds == nil {
		return nil
	}
	dek, err := encryption.ReadDEK(n.dekPath(), n.rest.kek)
	if err != nil {
		return err
	}
	if n.rest.keyAEAD == nil {
		if n.rest.keyAEAD, err = encryption.New(dek, encryption.PurposeNodeKey); err != nil {
			return err
		}
	}
	if kek != nil {
		if err := creds.SaveSealed(n.certDir(), n.rest.keyAEAD); err != nil {
			return err
		}
		if err := encryption.WriteDEK(n.dekPath(), dek, kek); err != nil {
			return err
		}
	} else {
		if err := encryption.WriteDEK(n.dekPath(), dek, nil); err != nil {
			return err
		}
		if err := creds.SaveSealed(n.certDir(), nil); err != nil {
			return err
		}
	}
	was := n.rest.kek != nil
	n.rest.kek = kek
	switch {
	case kek != nil && was:
		n.log.Info("autolock: data encryption key re-wrapped with the rotated unlock key")
	case kek != nil:
		n.log.Info("autolock on: raft data key wrapped, TLS key sealed")
	default:
		n.log.Info("autolock off: raft data key and TLS key stored unwrapped")
	}
	return nil
}

// dropAtRest forgets the DEK before the raft directory goes (demotion,
// leave): the TLS key is written plain first, as a worker keeps it.
func (n *Node) dropAtRest() {
	n.rest.mu.Lock()
	defer n.rest.mu.Unlock()
	if c := n.credentials(); c != nil && n.rest.kek != nil {
		if err := c.SaveSealed(n.certDir(), nil); err != nil {
			n.log.Warn("autolock: writing the node key unsealed", "err", err)
		}
	}
	n.rest.kek, n.rest.keyAEAD = nil, nil
}

// followUnlockKey keeps this manager's disk in step with the cluster's
// autolock setting and key until m stops. It waits for the store to replay
// what the disk held, so the DEK is not re-wrapped with every key of the
// log's history at a restart.
func (n *Node) followUnlockKey(m clusterManager) {
	m.FollowUnlockKey(func(key string) {
		if err := n.applyUnlockKey(m, key); err != nil {
			n.log.Error("autolock: applying the cluster's unlock key", "err", err)
		}
	})
}

// isLocked says whether the node waits for swarm unlock.
func (n *Node) isLocked() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.locked
}

func (s *swarmAPI) Unlock(ctx context.Context, r *api.UnlockRequest) (*api.UnlockResponse, error) {
	n := s.n
	n.transition.Lock()
	defer n.transition.Unlock()
	n.mu.Lock()
	st, locked := n.st, n.locked
	n.mu.Unlock()
	if st == nil {
		return nil, errdefs.FailedPrecondition("This node is not part of a swarm")
	}
	if !locked {
		return nil, errdefs.FailedPrecondition("swarm is not locked")
	}
	kek, err := encryption.KEK(r.GetUnlockKey())
	if err == nil {
		err = n.openAtRest(kek)
	}
	if err != nil {
		if errors.Is(err, encryption.ErrInvalidUnlockKey) {
			n.log.Warn("swarm unlock refused: invalid key")
			return nil, errdefs.InvalidArgument("%v", encryption.ErrInvalidUnlockKey)
		}
		return nil, err
	}
	if err := n.start(st); err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.locked = false
	m := n.mgr
	n.mu.Unlock()
	n.log.Info("swarm unlocked")
	if m != nil {
		// Best effort, so the next command finds a leader; without a
		// quorum the manager is unlocked all the same.
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_ = m.WaitLeader(wctx)
		cancel()
	}
	return &api.UnlockResponse{}, nil
}
