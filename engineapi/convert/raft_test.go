package convert

import (
	"testing"

	"github.com/minsw/minsw/manager/raftnode"
)

// docker info's raft settings are the managers' own.
func TestRaftSettingsAreTheManagers(t *testing.T) {
	d := raftnode.DefaultConfig()
	if d.SnapshotThreshold != snapshotInterval || d.TrailingLogs != logEntriesForSlowFollowers {
		t.Errorf("raftnode snapshots every %d entries keeping %d; docker info says %d and %d",
			d.SnapshotThreshold, d.TrailingLogs, snapshotInterval, logEntriesForSlowFollowers)
	}
}
