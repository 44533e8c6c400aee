package netagent

import (
	"fmt"
	"os"
)

// hostNetns is the namespace a `--network host` task joins: the node's own,
// where its underlay is (the daemon's unless the node's underlay lives in
// a namespace of its own, as in tests).
func (a *Agent) hostNetns() string {
	if a.cfg.UnderlayNetns != "" {
		return a.cfg.UnderlayNetns
	}
	return fmt.Sprintf("/proc/%d/ns/net", os.Getpid())
}

// UnderlayNetns is the node's own namespace as configured ("" is the
// daemon's): where the gateway bridge and `--network host` tasks live.
func (a *Agent) UnderlayNetns() string { return a.cfg.UnderlayNetns }
