package manager

import (
	"context"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// SetAutolock turns autolock on or off as swarm update --autolock does
// (swarm init --autolock calls it once the cluster exists) and returns the
// cluster, unlock key included: the caller prints it once.
func (m *Manager) SetAutolock(ctx context.Context, on bool) (*api.Cluster, error) {
	var c *api.Cluster
	m.st.View(func(tx store.ReadTx) { c = tx.Cluster() })
	if c == nil {
		return nil, errdefs.FailedPrecondition("this node is not part of a swarm")
	}
	spec := proto.Clone(c.GetSpec()).(*api.ClusterSpec)
	spec.Autolock = on
	resp, err := m.control.UpdateCluster(ctx, &api.UpdateClusterRequest{Version: c.GetMeta().GetVersion(), Spec: spec})
	if err != nil {
		return nil, err
	}
	return resp.GetCluster(), nil
}

// Done is closed once the manager has stopped.
func (m *Manager) Done() <-chan struct{} { return m.done }
