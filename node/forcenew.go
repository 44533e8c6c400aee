package node

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/raftnode"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// forceNewCluster is `swarm init --force-new-cluster` on a manager: its
// manager stops, the raft configuration in its data is rewritten to this
// node alone (state, term and vote kept), and it starts again as the one
// manager of the swarm. The other managers stay in `node ls` until demoted
// or removed, as in docker.
func (n *Node) forceNewCluster(ctx context.Context) (*api.InitResponse, error) {
	n.mu.Lock()
	st, locked := n.st, n.locked
	n.mu.Unlock()
	switch {
	case locked:
		return nil, errdefs.FailedPrecondition(lockedMessage)
	case !st.Manager:
		return nil, errdefs.FailedPrecondition("--force-new-cluster recovers a manager from its own data, and this node is not a manager")
	}
	n.stopManager()
	cipher, err := n.raftCipher()
	if err != nil {
		return nil, err
	}
	_, tr := raft.NewInmemTransport(raft.ServerAddress(st.AdvertiseAddr))
	cfg := raftnode.DefaultConfig()
	cfg.ID, cfg.Addr, cfg.DataDir, cfg.Cipher, cfg.Transport, cfg.Logger = st.NodeID, st.AdvertiseAddr, n.raftDir(), cipher, tr, n.cfg.Logger
	if err := raftnode.ForceNewCluster(cfg); err != nil {
		return nil, err
	}
	ns := *st
	ns.Managers = []string{st.AdvertiseAddr}
	if err := n.saveState(&ns); err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.st = &ns
	n.mu.Unlock()
	if err := n.startManager(&ns, false); err != nil {
		return nil, err
	}
	n.mu.Lock()
	m, conn := n.mgr, n.mgrConn
	n.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := m.WaitLeader(wctx); err != nil {
		return nil, err
	}
	// The first call waits for the new leader to have applied its log.
	resp, err := api.NewControlClient(conn).GetCluster(wctx, &api.GetClusterRequest{})
	if err != nil {
		return nil, err
	}
	c := resp.GetCluster()
	n.log.Warn("forced a new cluster from this manager's data", "node", st.NodeID)
	return &api.InitResponse{
		NodeId:            st.NodeID,
		ClusterId:         c.GetId(),
		WorkerJoinCommand: fmt.Sprintf("minsw swarm join --token %s %s", c.GetJoinTokens().GetWorker(), st.AdvertiseAddr),
	}, nil
}
