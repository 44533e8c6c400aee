package agent

import (
	"context"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Withdrawer is implemented by a Network that publishes running tasks as
// load-balancer backends and DNS names. Withdraw takes a task out of them
// on every node and returns once that has had time to spread, so its
// container gets the stop signal only when no new connection can reach it;
// connections already established are left to finish within the stop
// grace period.
type Withdrawer interface {
	Withdraw(ctx context.Context, taskID string)
}

// withdraw takes a running task out of the load balancers before it is
// stopped (a no-op for networks that publish nothing).
func (r *taskRunner) withdraw(ctx context.Context, st *api.TaskStatus) {
	if st.GetState() != api.TaskState_TASK_STATE_RUNNING {
		return // never published
	}
	if w, ok := r.a.cfg.Network.(Withdrawer); ok {
		w.Withdraw(ctx, r.id)
	}
}
