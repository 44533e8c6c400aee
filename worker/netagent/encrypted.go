package netagent

import (
	"context"

	"github.com/minsw/minsw/netdriver/ipsec"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/agent"
)

// RefuseEncrypted wraps a node's task networking so that a task on an
// encrypted overlay (--opt encrypted) is rejected with check's reason
// before anything is attached: this node must not carry that network's
// traffic in clear. The agent reports the error as the task's (REJECTED).
func RefuseEncrypted(next agent.Network, check func(network string) error) agent.Network {
	return refuseEncrypted{Network: next, check: check}
}

type refuseEncrypted struct {
	agent.Network
	check func(network string) error
}

func (r refuseEncrypted) Prepare(ctx context.Context, t *api.Task, networks []*api.Network) (string, error) {
	for _, n := range networks {
		if ipsec.Encrypted(n.GetSpec().GetDriverOpts()) {
			if err := r.check(n.GetSpec().GetName()); err != nil {
				return "", err
			}
		}
	}
	return r.Network.Prepare(ctx, t, networks)
}

// Withdraw passes on to the wrapped network when it publishes backends.
func (r refuseEncrypted) Withdraw(ctx context.Context, taskID string) {
	if w, ok := r.Network.(agent.Withdrawer); ok {
		w.Withdraw(ctx, taskID)
	}
}
