package manager

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// What the node's daemon asks of its own manager, beyond the gRPC APIs.

// SetAutolock turns autolock on or off as swarm update --autolock does
// (swarm init --autolock calls it once the cluster exists) and returns the
// unlock key ("" when off): the caller prints it once.
func (m *Manager) SetAutolock(ctx context.Context, on bool) (string, error) {
	var c *api.Cluster
	m.st.View(func(tx store.ReadTx) { c = tx.Cluster() })
	if c == nil {
		return "", errdefs.FailedPrecondition("this node is not part of a swarm")
	}
	spec := proto.Clone(c.GetSpec()).(*api.ClusterSpec)
	spec.Autolock = on
	if _, err := m.control.UpdateCluster(ctx, &api.UpdateClusterRequest{Version: c.GetMeta().GetVersion(), Spec: spec}); err != nil {
		return "", err
	}
	resp, err := m.control.GetUnlockKey(ctx, &api.GetUnlockKeyRequest{})
	if err != nil {
		return "", err
	}
	return resp.GetUnlockKey(), nil
}

// Done is closed once the manager has stopped.
func (m *Manager) Done() <-chan struct{} { return m.done }

// NodeAddrs lists the addresses of the nodes this manager's store knows.
func (m *Manager) NodeAddrs() []string {
	var out []string
	m.st.View(func(tx store.ReadTx) {
		for _, nd := range tx.Nodes() {
			if a := nd.GetStatus().GetAddr(); a != "" {
				out = append(out, a)
			}
		}
	})
	return out
}

// NodeCount is how many nodes this manager's store knows.
func (m *Manager) NodeCount() int {
	var n int
	m.st.View(func(tx store.ReadTx) { n = len(tx.Nodes()) })
	return n
}

// FollowUnlockKey calls fn with the cluster's unlock key ("" when autolock
// is off) now and at every change, until the manager stops. It first waits
// (up to 30 s) for the store to replay what the disk held, so fn does not
// see every key of the log's history at a restart.
func (m *Manager) FollowUnlockKey(fn func(unlockKey string)) {
	last := m.raft.LastIndex()
	for wait := time.Now().Add(30 * time.Second); !m.raft.CaughtUp(last) && time.Now().Before(wait); {
		select {
		case <-m.done:
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	w := m.st.Watch(store.ForTables(store.TableCluster))
	defer w.Close()
	for {
		var c *api.Cluster
		m.st.View(func(tx store.ReadTx) { c = tx.Cluster() })
		if c != nil {
			key := ""
			if c.GetSpec().GetAutolock() {
				key = c.GetUnlockKey()
			}
			fn(key)
		}
		select {
		case <-m.done:
			return
		case <-w.C:
			w.Drain()
		}
	}
}
