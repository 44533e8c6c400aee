package node

import (
	"errors"
	"os"

	"github.com/minsw/minsw/manager/raftnode"
)

// checkRaftLog refuses to resume a manager whose raft log is gone: it would
// start as a new member with no term and no vote, and could vote twice in
// a term it already voted in. (raftnode checks the log's contents.)
func (n *Node) checkRaftLog() error {
	path := raftnode.LogPath(n.raftDir())
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return raftnode.Damaged(path, "the file is missing, but this node was a manager: its raft term and vote are lost")
	}
	return nil
}

// refuseToStart says whether a failure to resume the swarm membership must
// stop the daemon: damaged raft data does (staying up outside the cluster
// would look like a node that never was a manager); other failures leave
// the daemon up for the user to act.
func refuseToStart(err error) bool {
	var d *raftnode.DamagedError
	return errors.As(err, &d)
}
