package manager

import (
	"context"
	"time"

	"github.com/minsw/minsw/manager/raftnode"
)

// servingWait bounds how long a call to a new leader waits for it to catch
// up before it is told so (the caller may retry).
const servingWait = 3 * time.Second

// waitServing returns nil once this leader may serve calls: it has applied
// every entry committed before its term (raftnode.Ready) and its leader
// loops run. Until then, up to servingWait, it waits; after that it says
// how far behind it is rather than that there is no leader.
func (m *Manager) waitServing(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, servingWait)
	defer cancel()
	if err := m.raft.Ready(ctx); err != nil {
		return err
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for m.allocator() == nil {
		if !m.raft.IsLeader() {
			return raftnode.ErrNoLeader
		}
		select {
		case <-ctx.Done():
			return raftnode.CatchingUp(m.raft.Behind())
		case <-t.C:
		}
	}
	return nil
}
