package agent

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"

	"github.com/minsw/minsw/internal/clock"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/executor"
)

// DialFunc opens a connection to a manager; the daemon owns TLS and
// dialing options. If the returned value has a Close() error method the
// agent calls it when it leaves that manager.
type DialFunc func(ctx context.Context, addr string) (grpc.ClientConnInterface, error)

// Network attaches a task's container to its overlay networks. The agent
// calls Prepare before it creates the container, and again for a container
// it adopts after a restart, so Prepare must be idempotent per task and
// return the same path each time. Release undoes Prepare once the task's
// container has stopped for good; it too must be idempotent.
type Network interface {
	Prepare(ctx context.Context, t *api.Task, networks []*api.Network) (netnsPath string, err error)
	Release(ctx context.Context, t *api.Task) error
}

// NoopNetwork attaches nothing: containers get a fresh empty namespace.
type NoopNetwork struct{}

func (NoopNetwork) Prepare(context.Context, *api.Task, []*api.Network) (string, error) {
	return "", nil
}
func (NoopNetwork) Release(context.Context, *api.Task) error { return nil }

// Config is the agent's setting. NodeID, Managers, Dial and Executor are
// required; DefaultConfig fills in the rest.
type Config struct {
	NodeID string
	// Managers are manager addresses (host:2377) to try, in order; the
	// session adds the ones the leader announces.
	Managers []string
	Dial     DialFunc
	Executor executor.Executor
	Network  Network
	// Volumes is the node's volume store; nil refuses volume mounts.
	Volumes Volumes
	// Description and Addr are sent with each session: what the node is,
	// and its advertise (underlay) address; "" lets the manager use the
	// connection's source address.
	Description *api.NodeDescription
	Addr        string

	// ReconnectDelay is the first wait before trying the next manager after
	// a failure; it doubles up to MaxReconnectDelay.
	ReconnectDelay    time.Duration
	MaxReconnectDelay time.Duration
	// StatusBatchDelay is how long a status report waits for company before
	// it is sent, so a task racing through its states costs one call.
	StatusBatchDelay time.Duration
	// RPCTimeout bounds each heartbeat and status call.
	RPCTimeout time.Duration
	// StopGracePeriod is used for tasks that do not set their own.
	StopGracePeriod time.Duration
	// ResyncInterval makes every running task re-inspect its container, in
	// case the executor missed an exit event.
	ResyncInterval time.Duration

	Clock  clock.Clock
	Logger *slog.Logger
}

// DefaultConfig returns the timings a daemon uses; set the required fields.
func DefaultConfig() Config {
	return Config{
		Network:           NoopNetwork{},
		ReconnectDelay:    100 * time.Millisecond,
		MaxReconnectDelay: 5 * time.Second,
		StatusBatchDelay:  5 * time.Millisecond,
		RPCTimeout:        10 * time.Second,
		StopGracePeriod:   10 * time.Second,
		ResyncInterval:    30 * time.Second,
	}
}

// Validate reports the first missing or unusable setting.
func (c Config) Validate() error {
	switch {
	case c.NodeID == "":
		return fmt.Errorf("agent: no node ID")
	case len(c.Managers) == 0:
		return fmt.Errorf("agent: no manager address to connect to")
	case c.Dial == nil:
		return fmt.Errorf("agent: no dial function")
	case c.Executor == nil:
		return fmt.Errorf("agent: no executor")
	case c.Network == nil:
		return fmt.Errorf("agent: no network attacher (use NoopNetwork)")
	case c.ReconnectDelay <= 0 || c.MaxReconnectDelay < c.ReconnectDelay:
		return fmt.Errorf("agent: reconnect delays must be positive and max >= first, got %v and %v", c.ReconnectDelay, c.MaxReconnectDelay)
	case c.StatusBatchDelay < 0:
		return fmt.Errorf("agent: status batch delay must not be negative")
	case c.RPCTimeout <= 0:
		return fmt.Errorf("agent: RPC timeout must be positive")
	case c.StopGracePeriod < 0:
		return fmt.Errorf("agent: stop grace period must not be negative")
	case c.ResyncInterval <= 0:
		return fmt.Errorf("agent: resync interval must be positive")
	}
	return nil
}

// sleep waits d on clock, or until ctx ends (false).
func sleep(ctx context.Context, c clock.Clock, d time.Duration) bool {
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}
