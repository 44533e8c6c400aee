package node

import (
	"net/netip"
	"testing"

	"github.com/minsw/minsw/netdriver"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/netagent"
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

// Its endpoints are keyed and named as docker_gwbridge's Containers are.
func TestGatewayBridgeEndpointsAsDockerNamesThem(t *testing.T) {
	got := gwbridgeEndpoints([]netagent.EgressEndpoint{
		{ContainerID: netdriver.IngressSbox, Addr: netip.MustParsePrefix("172.18.0.2/16")},
		{ContainerID: "3f2a9c81d4e5b6a7c8d9e0f1", Addr: netip.MustParsePrefix("172.18.0.3/16")},
	})
	want := []string{"ingress-sbox gateway_ingress-sbox 172.18.0.2/16", "3f2a9c81d4e5b6a7c8d9e0f1 gateway_3f2a9c81d4e5 172.18.0.3/16"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i, e := range got {
		if s := e.GetKey() + " " + e.GetName() + " " + e.GetIpv4Address(); s != want[i] {
			t.Errorf("endpoint %d: %q, want %q", i, s, want[i])
		}
	}
}
