package agent

import (
	"testing"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

func TestHostModePorts(t *testing.T) {
	tk := &api.Task{Endpoint: &api.Endpoint{Ports: []*api.PortConfig{
		{TargetPort: 80, PublishedPort: 8080},
		{TargetPort: 80, PublishedPort: 9090, PublishMode: api.PublishMode_PUBLISH_MODE_HOST},
		{TargetPort: 53, PublishedPort: 5353, Protocol: api.PortProtocol_PORT_PROTOCOL_UDP, PublishMode: api.PublishMode_PUBLISH_MODE_HOST},
	}}}
	got := hostModePorts(tk)
	if len(got) != 2 || got[0].GetPublishedPort() != 9090 || got[1].GetPublishedPort() != 5353 {
		t.Fatalf("host-mode ports %v", got)
	}
	if hostModePorts(&api.Task{}) != nil {
		t.Error("a task without ports reports some")
	}
}
