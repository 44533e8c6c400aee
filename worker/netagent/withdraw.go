package netagent

import (
	"context"
	"time"
)

// Withdraw implements agent.Withdrawer: the task's endpoints leave the
// gossip endpoint table now (so every node's lb backends and tasks.<svc>
// names drop it) and the call returns after WithdrawDelay, the time that
// takes to spread. Connections already set up keep their conntrack entry
// and so their backend; only new ones go elsewhere.
func (a *Agent) Withdraw(ctx context.Context, taskID string) {
	a.kmu.Lock()
	lt := a.tasks[taskID]
	was := lt != nil && lt.published
	if lt != nil {
		lt.withdrawn = true
		a.unpublishLocked(lt)
		a.markDirty(publishKey)
	}
	a.kmu.Unlock()
	if !was || a.cfg.WithdrawDelay <= 0 {
		return
	}
	t := time.NewTimer(a.cfg.WithdrawDelay)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	a.log.Debug("task withdrawn from load balancers", "task", taskID)
}
