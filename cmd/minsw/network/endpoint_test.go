package network_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/minsw/minsw/cmd/minsw/internal/clitest"
)

// network inspect shows each endpoint's ID as the store keeps it.
func TestNetworkInspectEndpointID(t *testing.T) {
	d := clitest.Seed()
	id := strings.Repeat("ab", 32)
	d.Nodes[1].LbAttachments[0].EndpointId = id
	sock := d.Serve(t)
	out, errOut, code := clitest.Run(t, sock, "", "network", "inspect", "mynet")
	if code != 0 {
		t.Fatalf("inspect: %d %s", code, errOut)
	}
	var got []struct {
		Containers map[string]struct{ Name, EndpointID string }
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if ep := got[0].Containers["lb-mynet"]; ep.EndpointID != id {
		t.Errorf("lb endpoint %+v, want EndpointID %s", ep, id)
	}
}
