package agent

import (
	"google.golang.org/protobuf/proto"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// hostModePorts are the ports a running task publishes on its own node
// (mode host), which its status reports as Docker's does, so that
// `service ps` shows them; routing-mesh ports are the service's, not the
// task's.
func hostModePorts(t *api.Task) []*api.PortConfig {
	ports := t.GetEndpoint().GetPorts()
	if len(ports) == 0 {
		ports = t.GetEndpoint().GetSpec().GetPorts()
	}
	var out []*api.PortConfig
	for _, p := range ports {
		if p.GetPublishMode() == api.PublishMode_PUBLISH_MODE_HOST && p.GetPublishedPort() != 0 {
			out = append(out, proto.Clone(p).(*api.PortConfig))
		}
	}
	return out
}
