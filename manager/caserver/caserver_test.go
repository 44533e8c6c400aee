package caserver

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// A manager that has just joined has no cluster object until raft brings
// it: a node joining through it right then gets the root once it arrives,
// not "no root CA yet".
func TestGetRootCAWaitsForTheRootToArrive(t *testing.T) {
	st := store.New(nil, nil)
	s := New(st, nil, nil)
	root := []byte("root certificate DER")
	go func() {
		time.Sleep(200 * time.Millisecond) // raft catches up
		_ = st.Update(context.Background(), func(tx *store.Tx) error {
			return tx.Create(&api.Cluster{Id: "c1", Meta: &api.Meta{}, Spec: &api.ClusterSpec{}, RootCaCert: root})
		})
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := s.GetRootCA(ctx, &api.GetRootCARequest{})
	if err != nil {
		t.Fatalf("GetRootCA on a manager catching up: %v", err)
	}
	if !bytes.Equal(r.RootCaCert, root) {
		t.Fatalf("root %q", r.RootCaCert)
	}
}

func TestGetRootCAGivesUpWithTheCaller(t *testing.T) {
	s := New(store.New(nil, nil), nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := s.GetRootCA(ctx, &api.GetRootCARequest{})
	if !errdefs.Is(err, errdefs.KindUnavailable) || !strings.Contains(err.Error(), "no root CA yet") {
		t.Fatalf("got %v, want Unavailable no root CA yet", err)
	}
}
