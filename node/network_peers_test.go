package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/minsw/minsw/client"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// checkPeersByHostname asks the node's own view of mynet (the one a
// worker's `network inspect` shows) and wants its Peers named by hostname,
// as docker's, not by node ID.
func checkPeersByHostname(t *testing.T, ctx context.Context, cl *client.Client, hostname string) {
	t.Helper()
	var resp *minswv1.InspectLocalNetworkResponse
	ok := within(10*time.Second, func() bool {
		var err error
		resp, err = cl.Networks.InspectLocalNetwork(ctx, &minswv1.InspectLocalNetworkRequest{Ref: "mynet"})
		return err == nil && len(resp.GetPeers()) == 1
	})
	if !ok {
		t.Fatalf("inspect mynet from the node: %v", resp)
	}
	if p := resp.GetPeers()[0]; p.GetName() != hostname || p.GetAddr() != "127.0.0.1" {
		t.Errorf("peer %v, want %s at 127.0.0.1", p, hostname)
	}
}
