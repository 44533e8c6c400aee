package controlapi

import (
	"bytes"
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

type fakeCA struct{ st *store.Store }

func (f fakeCA) RotateRootCA(ctx context.Context) (*api.Cluster, error) {
	var out *api.Cluster
	err := f.st.Update(ctx, func(tx *store.Tx) error {
		nc := proto.Clone(tx.Cluster()).(*api.Cluster)
		nc.RootRotation = &api.RootRotation{CaCert: []byte("new-root"), CaKey: []byte("SECRET-NEW-CA-KEY"), CrossSignedCaCert: []byte("cross")}
		out = nc
		return tx.Update(nc)
	})
	return out, err
}

// The Control server registered bare, with no wrapper and no interceptor,
// never lets the CA keys or the unlock key out in a cluster object.
func TestBareControlServerNeverReturnsKeyMaterial(t *testing.T) {
	s, st := newServer(t)
	s.ca = fakeCA{st: st}
	ctx := context.Background()
	if err := st.Update(ctx, func(tx *store.Tx) error {
		nc := proto.Clone(tx.Cluster()).(*api.Cluster)
		nc.RootCaCert, nc.RootCaKey = []byte("root-cert"), []byte("SECRET-CA-KEY")
		nc.Spec.Autolock, nc.UnlockKey = true, "SWMKEY-1-SECRET"
		return tx.Update(nc)
	}); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	api.RegisterControlServer(g, s)
	go func() { _ = g.Serve(l) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctl := api.NewControlClient(conn)

	leaks := func(what string, c *api.Cluster) {
		t.Helper()
		if c == nil {
			t.Fatalf("%s: no cluster", what)
		}
		b, err := proto.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{"SECRET-CA-KEY", "SECRET-NEW-CA-KEY", "SWMKEY-1-SECRET"} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s returned %s", what, secret)
			}
		}
		if len(c.GetRootCaCert()) == 0 {
			t.Errorf("%s: the root certificate (public) should still be there", what)
		}
	}
	got, err := ctl.GetCluster(ctx, &api.GetClusterRequest{})
	if err != nil {
		t.Fatal(err)
	}
	leaks("GetCluster", got.GetCluster())
	up, err := ctl.UpdateCluster(ctx, &api.UpdateClusterRequest{Version: got.GetCluster().GetMeta().GetVersion(), Spec: got.GetCluster().GetSpec(), RotateWorkerToken: true})
	if err != nil {
		t.Fatal(err)
	}
	leaks("UpdateCluster", up.GetCluster())
	rot, err := ctl.RotateRootCA(ctx, &api.RotateRootCARequest{})
	if err != nil {
		t.Fatal(err)
	}
	leaks("RotateRootCA", rot.GetCluster())
	got, err = ctl.GetCluster(ctx, &api.GetClusterRequest{})
	if err != nil {
		t.Fatal(err)
	}
	leaks("GetCluster during a rotation", got.GetCluster())
	// The unlock key has its own call, for swarm unlock-key.
	k, err := ctl.GetUnlockKey(ctx, &api.GetUnlockKeyRequest{})
	if err != nil || k.GetUnlockKey() != "SWMKEY-1-SECRET" {
		t.Fatalf("GetUnlockKey = %q, %v", k.GetUnlockKey(), err)
	}
}
