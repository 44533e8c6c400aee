package manager

import (
	"context"
	"testing"

	"google.golang.org/grpc/metadata"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/auth"
	"github.com/minsw/minsw/manager/ca"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// CallLocal serves the node's own socket in memory through the manager's
// edge: its certificate is the caller, what the socket's caller put in the
// metadata is not believed, and a node without a certificate is refused.
func TestCallLocal(t *testing.T) {
	m, _ := oneManager(t)
	ctx := context.Background()
	resp, err := m.CallLocal(ctx, m.cfg.Credentials, api.Control_ListNodes_FullMethodName, &api.ListNodesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if nodes := resp.(*api.ListNodesResponse).GetNodes(); len(nodes) != 1 || nodes[0].GetId() != m.cfg.NodeID {
		t.Fatalf("ListNodes in memory: %v", nodes)
	}
	// A forwarded identity in the caller's metadata would name another
	// node (one this swarm does not know): it is dropped, not believed.
	spoof := metadata.NewIncomingContext(ctx, metadata.Pairs(auth.ForwardedIdentityHeader, auth.FormatForwardedIdentity(ca.Identity{NodeID: "intruder", ClusterID: "x", Role: ca.ManagerRole})))
	if _, err := m.CallLocal(spoof, m.cfg.Credentials, api.Control_ListNodes_FullMethodName, &api.ListNodesRequest{}); err != nil {
		t.Fatalf("a call with a caller's forwarded identity: %v", err)
	}
	if _, err := m.CallLocal(ctx, ca.NewCredentials(nil), api.Control_ListNodes_FullMethodName, &api.ListNodesRequest{}); !errdefs.Is(err, errdefs.KindUnauthenticated) {
		t.Fatalf("no certificate: %v", err)
	}
	if _, err := m.CallLocal(ctx, m.cfg.Credentials, "/minsw.v1.Control/Nope", &api.ListNodesRequest{}); !errdefs.Is(err, errdefs.KindUnimplemented) {
		t.Fatalf("unknown method: %v", err)
	}
}
