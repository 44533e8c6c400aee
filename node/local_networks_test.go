package node

import (
	"net/netip"
	"testing"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// The gateway bridge is described as docker_gwbridge is: its subnet and
// gateway, docker's bridge options, and the label naming it.
func TestGatewayBridgeReadsAsDockerGwbridge(t *testing.T) {
	n := gwbridgeNetwork("id1", netip.MustParsePrefix("172.18.0.1/16"))
	if n.GetSubnet() != "172.18.0.0/16" || n.GetGateway() != "172.18.0.1" || n.GetDriver() != "bridge" {
		t.Errorf("addresses: %+v", n)
	}
	want := map[string]string{
		"com.docker.network.bridge.name":                 "minsw_gwbridge",
		"com.docker.network.bridge.enable_icc":           "false",
		"com.docker.network.bridge.enable_ip_masquerade": "true",
	}
	for k, v := range want {
		if n.GetOptions()[k] != v {
			t.Errorf("option %s = %q, want %q", k, n.GetOptions()[k], v)
		}
	}
	if n.GetLabels()[api.LabelDockerEquivalent] != "docker_gwbridge" {
		t.Errorf("labels: %v", n.GetLabels())
	}
}
