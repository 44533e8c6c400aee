package convert

import (
	"testing"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// docker network inspect of the gateway bridge shows its subnet, options
// and labels as the node gives them, as docker_gwbridge's inspect does;
// host shows empty maps, not nulls.
func TestLocalNetworkShowsSubnetOptionsAndLabels(t *testing.T) {
	gw := LocalNetwork(&api.LocalNetwork{Id: "abc", Name: "minsw_gwbridge", Driver: "bridge", Subnet: "172.18.0.0/16", Gateway: "172.18.0.1",
		Options:   map[string]string{"com.docker.network.bridge.enable_icc": "false"},
		Labels:    map[string]string{api.LabelDockerEquivalent: "docker_gwbridge"},
		Endpoints: []*api.LocalEndpoint{{Key: "c0ffee", Name: "gateway_c0ffee", Ipv4Address: "172.18.0.3/16"}}})
	if gw.Scope != "local" || len(gw.IPAM.Config) != 1 || gw.IPAM.Config[0].Subnet != "172.18.0.0/16" || gw.IPAM.Config[0].Gateway != "172.18.0.1" ||
		gw.Options["com.docker.network.bridge.enable_icc"] != "false" || gw.Labels[api.LabelDockerEquivalent] != "docker_gwbridge" ||
		gw.Containers["c0ffee"].Name != "gateway_c0ffee" || gw.Containers["c0ffee"].IPv4Address != "172.18.0.3/16" {
		t.Errorf("gateway bridge: %+v", gw)
	}
	host := LocalNetwork(&api.LocalNetwork{Id: "def", Name: "host", Driver: "host"})
	if host.Options == nil || host.Labels == nil || host.Containers == nil || len(host.IPAM.Config) != 0 {
		t.Errorf("host: %+v", host)
	}
}
