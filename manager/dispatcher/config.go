package dispatcher

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/minsw/minsw/internal/clock"
)

// Config tunes the dispatcher. Start from DefaultConfig.
type Config struct {
	// HeartbeatPeriod is how often workers heartbeat, unless the cluster
	// object's spec.heartbeat_period says otherwise.
	HeartbeatPeriod time.Duration
	// HeartbeatGrace is how many periods a node may stay silent before it
	// is marked down.
	HeartbeatGrace int
	// StatusBatchInterval is the least time between two task status writes;
	// updates arriving meanwhile are written together.
	StatusBatchInterval time.Duration
	// StatusBatchSize makes a batch write at once when that many tasks wait.
	StatusBatchSize int
	// AssignmentDelay is how long a session waits after a change before it
	// sends the node its new assignment set, so a burst of writes becomes
	// one message.
	AssignmentDelay time.Duration
	// Managers lists the managers' addresses (host:2377) for workers to fall
	// back on; nil means none.
	Managers func() []string
	// ManagerIDs lists the managers' node IDs: a worker dials as a manager
	// only a certificate naming one of them. nil means none.
	ManagerIDs func() []string
	// LeaderAddr names the leader's address when this dispatcher does not
	// run (a follower), so workers are redirected; nil or "" means the swarm
	// has no leader.
	LeaderAddr func() string
	// Logs routes task logs between the workers' log streams and the
	// readers; nil: LogSubscriptions and PublishLogs are Unimplemented.
	Logs LogBroker
	// Clock drives heartbeat deadlines (time.Now and real timers when nil).
	// Status batching always uses real time: it bounds latency, not
	// liveness.
	Clock  clock.Clock
	Logger *slog.Logger
}

// DefaultConfig is Swarm's: 5 s heartbeats, down after 3 missed periods,
// status written at most every 50 ms.
func DefaultConfig() Config {
	return Config{
		HeartbeatPeriod:     5 * time.Second,
		HeartbeatGrace:      3,
		StatusBatchInterval: 50 * time.Millisecond,
		StatusBatchSize:     100,
		AssignmentDelay:     10 * time.Millisecond,
	}
}

// Validate reports the first unusable setting.
func (c Config) Validate() error {
	switch {
	case c.HeartbeatPeriod <= 0:
		return fmt.Errorf("dispatcher: heartbeat period must be positive, got %v", c.HeartbeatPeriod)
	case c.HeartbeatGrace < 1:
		return fmt.Errorf("dispatcher: heartbeat grace must be at least 1 period, got %d", c.HeartbeatGrace)
	case c.StatusBatchInterval < 0:
		return fmt.Errorf("dispatcher: status batch interval must not be negative, got %v", c.StatusBatchInterval)
	case c.StatusBatchSize < 1:
		return fmt.Errorf("dispatcher: status batch size must be at least 1, got %d", c.StatusBatchSize)
	case c.AssignmentDelay < 0:
		return fmt.Errorf("dispatcher: assignment delay must not be negative, got %v", c.AssignmentDelay)
	}
	return nil
}
