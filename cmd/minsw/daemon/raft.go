package daemon

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/minsw/minsw/manager/raftnode"
)

// raftSnapshotOptions are hidden daemon flags that let tests (and the
// benchmarks) compact the raft log after a few entries instead of
// thousands.
type raftSnapshotOptions struct {
	threshold, trailing uint64
	interval            time.Duration
}

func (o *raftSnapshotOptions) register(f *pflag.FlagSet) {
	f.Uint64Var(&o.threshold, "raft-snapshot-threshold", 0, "Entries past the last raft snapshot that make a new one (default 2048)")
	f.Uint64Var(&o.trailing, "raft-trailing-logs", 0, "Raft entries kept behind a snapshot (default 1024)")
	f.DurationVar(&o.interval, "raft-snapshot-interval", 0, "How often raft checks whether to snapshot (default 2s)")
	for _, n := range []string{"raft-snapshot-threshold", "raft-trailing-logs", "raft-snapshot-interval"} {
		_ = f.MarkHidden(n)
	}
}

// apply sets the flags given on rc (zero keeps the defaults).
func (o *raftSnapshotOptions) apply(rc *raftnode.Config) {
	if o.threshold > 0 {
		rc.SnapshotThreshold, rc.TrailingLogs = o.threshold, o.trailing
	}
	if o.interval > 0 {
		rc.SnapshotInterval = o.interval
	}
}
