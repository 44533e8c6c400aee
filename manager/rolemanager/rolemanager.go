// Package rolemanager carries out promote and demote on the leader: it
// brings raft's membership and the nodes' roles in the store into line with
// the roles the users asked for. It does not start or stop managers (each
// node's daemon does, seeing its role through its dispatcher session).
package rolemanager

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/manager/raftnode"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Raft is what the role manager needs of the raft member.
type Raft interface {
	Members() ([]raftnode.Member, error)
	RemoveServer(id string) error
	TransferLeadership() error
}

// RoleManager is the role-reconciling leader loop of the manager NodeID.
type RoleManager struct {
	st     *store.Store
	raft   Raft
	nodeID string
	log    *slog.Logger
}

// New returns the role manager of the manager nodeID.
func New(st *store.Store, r Raft, nodeID string, log *slog.Logger) *RoleManager {
	if log == nil {
		log = slog.Default()
	}
	return &RoleManager{st: st, raft: r, nodeID: nodeID, log: log.With("component", "rolemanager")}
}

// Run carries out promote and demote on the leader. A promoted
// node gets role manager in the store; its daemon sees that through its
// dispatcher session, starts a manager and asks to join raft. A demoted
// node is removed from raft first and then gets role worker, so raft never
// counts a member that no longer votes.
func (m *RoleManager) Run(ctx context.Context) error {
	w := m.st.Watch(store.ForTables(store.TableNode))
	defer w.Close()
	retry := time.NewTicker(2 * time.Second)
	defer retry.Stop()
	for {
		m.reconcileRolesOnce(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-w.C:
			w.Drain()
		case <-retry.C:
		}
	}
}

func (m *RoleManager) reconcileRolesOnce(ctx context.Context) {
	var nodes []*api.Node
	m.st.View(func(tx store.ReadTx) { nodes = tx.Nodes() })
	members := map[string]bool{}
	if ms, err := m.raft.Members(); err == nil {
		for _, x := range ms {
			members[x.ID] = true
		}
	}
	for _, n := range nodes {
		desired, role := n.GetSpec().GetDesiredRole(), n.GetRole()
		switch {
		case desired == api.NodeRole_NODE_ROLE_MANAGER && role == api.NodeRole_NODE_ROLE_WORKER && !members[n.GetId()]:
			m.setRole(ctx, n.GetId(), api.NodeRole_NODE_ROLE_MANAGER)
		case desired == api.NodeRole_NODE_ROLE_WORKER && role == api.NodeRole_NODE_ROLE_MANAGER:
			if n.GetId() == m.nodeID {
				// Demoting the leader: hand leadership over first; the new
				// leader finishes the demotion.
				if len(members) > 1 {
					_ = m.raft.TransferLeadership()
				}
				continue
			}
			if members[n.GetId()] {
				if err := m.raft.RemoveServer(n.GetId()); err != nil {
					m.log.Warn("demote: removing from raft", "node", n.GetId(), "err", err)
					continue
				}
			}
			m.setRole(ctx, n.GetId(), api.NodeRole_NODE_ROLE_WORKER)
		}
	}
}

func (m *RoleManager) setRole(ctx context.Context, id string, role api.NodeRole) {
	err := m.st.Update(ctx, func(tx *store.Tx) error {
		n := tx.Node(id)
		if n == nil || n.GetRole() == role {
			return nil
		}
		nn := proto.Clone(n).(*api.Node)
		nn.Role = role
		if role == api.NodeRole_NODE_ROLE_WORKER {
			nn.ManagerStatus = nil
		} else if nn.ManagerStatus == nil {
			nn.ManagerStatus = &api.ManagerStatus{}
		}
		return tx.Update(nn)
	})
	if err != nil {
		m.log.Warn("setting node role", "node", id, "role", role, "err", err)
	}
}
