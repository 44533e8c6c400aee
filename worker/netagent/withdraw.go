package netagent

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/minsw/minsw/worker/gossip"
)

// Withdraw implements agent.Withdrawer: the task's endpoints drain (every
// node's lb gives them no new connection but keeps the ones they have, and
// DNS stops naming them) and the call returns once every node's lb on the
// task's networks has said in gossip that it applied that, or after
// WithdrawTimeout. The endpoints go for good when the task's networking is
// released, after its container has stopped: connections set up before
// then are cut short by nothing but the task's own exit.
func (a *Agent) Withdraw(ctx context.Context, taskID string) {
	a.kmu.Lock()
	lt := a.tasks[taskID]
	if lt == nil {
		a.kmu.Unlock()
		return
	}
	lt.withdrawn = true
	was := lt.published
	if was && !lt.draining {
		a.drainLocked(lt)
	}
	var nets []string
	for _, ep := range lt.eps {
		nets = append(nets, ep.NetworkID)
	}
	a.kmu.Unlock()
	if !was || a.cfg.WithdrawTimeout <= 0 {
		return
	}
	start := time.Now()
	if left := a.waitWithdrawn(ctx, taskID, nets, a.cfg.WithdrawTimeout); len(left) > 0 {
		a.log.Warn("stopping a task that some lbs have not confirmed withdrawn", "task", taskID,
			"waited", time.Since(start).Round(time.Millisecond), "lbs", left)
		return
	}
	a.log.Info("task withdrawn from every lb", "task", taskID, "took", time.Since(start).Round(time.Millisecond))
}

// drainLocked republishes the task's endpoints as draining.
func (a *Agent) drainLocked(lt *localTask) {
	for i := range lt.eps {
		lt.eps[i].Draining = true
		if err := a.db.PutEndpoint(lt.eps[i]); err != nil && a.isReady() {
			a.log.Warn("draining task endpoint", "task", lt.id, "network", lt.eps[i].NetworkID, "err", err)
		}
		a.markDirty(lt.eps[i].NetworkID)
	}
	lt.draining = true
	a.markDirty(publishKey)
}

// waitWithdrawn waits until every lb endpoint on nets lists key as
// withdrawn, or timeout; it returns the lbs still silent.
func (a *Agent) waitWithdrawn(ctx context.Context, key string, nets []string, timeout time.Duration) []string {
	db := a.Gossip()
	if db == nil {
		return nil
	}
	events, cancel := db.Watch("")
	defer cancel()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		left := pendingWithdrawal(key, nets, db.Endpoints)
		if len(left) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return left
		case <-timer.C:
			return left
		case <-events:
		}
	}
}

// pendingWithdrawal lists the lb endpoints on nets (as endpoints reads
// them) that do not list key as withdrawn yet. It is pure.
func pendingWithdrawal(key string, nets []string, endpoints func(string) []gossip.Endpoint) []string {
	var left []string
	for _, n := range nets {
		for _, ep := range endpoints(n) {
			if isLBEndpoint(ep) && !slices.Contains(ep.Withdrawn, key) {
				left = append(left, ep.ContainerID)
			}
		}
	}
	slices.Sort(left)
	return slices.Compact(left)
}

// isLBEndpoint says ep is a node's lb endpoint (ensureNetworkLocked's).
func isLBEndpoint(ep gossip.Endpoint) bool {
	return ep.TaskID == "" && strings.HasPrefix(ep.ContainerID, "lb-")
}
