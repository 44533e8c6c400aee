package agent

import (
	"fmt"
	"os"

	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/executor"
)

// onHostNetwork marks a `--network host` task's spec: the namespace the
// task networking gave (the node's own; the daemon's when there is no task
// networking, which on a lab node is not containerd's) and the node's
// hostname unless the service sets one, as Docker does.
func onHostNetwork(s *executor.Spec, t *api.Task, desc *api.NodeDescription) {
	if !t.GetSpec().OnHostNetwork() {
		return
	}
	s.HostNetwork = true
	if s.NetnsPath == "" { // no task networking on this node: the daemon's
		s.NetnsPath = fmt.Sprintf("/proc/%d/ns/net", os.Getpid())
	}
	if t.GetSpec().GetContainer().GetHostname() == "" && desc.GetHostname() != "" {
		s.Hostname = desc.GetHostname()
	}
}
