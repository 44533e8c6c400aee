package client

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/manager/allocator"
	"github.com/minsw/minsw/manager/controlapi"
	"github.com/minsw/minsw/manager/store"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// A list far over gRPC's 4 MiB message limit comes back whole through the
// client, in pages the server keeps under its byte budget.
func TestListsLargerThanOneMessageComeBackWhole(t *testing.T) {
	const tasks = 20_000
	st := store.New(nil, nil)
	ctx := context.Background()
	env := []string{"PADDING=" + strings.Repeat("p", 300)}
	if err := st.Batch(ctx, tasks, 500, func(tx *store.Tx, i int) error {
		return tx.Create(&minswv1.Task{Id: fmt.Sprintf("task%06d", i), Meta: &minswv1.Meta{}, ServiceId: "svc", Slot: uint64(i),
			Spec: &minswv1.TaskSpec{Container: &minswv1.ContainerSpec{Image: "busybox", Env: env}}})
	}); err != nil {
		t.Fatal(err)
	}
	a := allocator.New(st, nil)
	ctl := controlapi.New(controlapi.Config{Store: st, Allocator: func() *allocator.Allocator { return a }})
	// The unpaged answer would not fit one message.
	var whole int
	st.View(func(tx store.ReadTx) {
		whole = proto.Size(&minswv1.ListTasksResponse{Tasks: tx.Tasks()})
	})
	if whole <= 4<<20 {
		t.Fatalf("test list is only %d bytes: it must exceed gRPC's 4 MiB limit", whole)
	}

	path := filepath.Join(t.TempDir(), "d.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	minswv1.RegisterControlServer(srv, ctl)
	go srv.Serve(l)
	defer srv.Stop()
	c, err := New(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	r, err := c.Control.ListTasks(ctx, &minswv1.ListTasksRequest{})
	if err != nil {
		t.Fatalf("ListTasks of %d bytes: %v", whole, err)
	}
	if len(r.Tasks) != tasks || r.NextPageToken != "" {
		t.Fatalf("got %d tasks (next page %q), want %d", len(r.Tasks), r.NextPageToken, tasks)
	}
	for i, tk := range r.Tasks {
		if want := fmt.Sprintf("task%06d", i); tk.Id != want {
			t.Fatalf("task %d is %s, want %s (pages overlap or skip)", i, tk.Id, want)
		}
	}
	// One page at a time, as a caller that pages itself sees it.
	p, err := c.Control.ListTasks(ctx, &minswv1.ListTasksRequest{PageSize: 7})
	if err != nil || len(p.Tasks) != 7 || p.NextPageToken == "" {
		t.Fatalf("first page of 7: %d tasks, next %q, %v", len(p.Tasks), p.NextPageToken, err)
	}
	// Filters apply before paging.
	f, err := c.Control.ListTasks(ctx, &minswv1.ListTasksRequest{ServiceIds: []string{"svc"}})
	if err != nil || len(f.Tasks) != tasks {
		t.Fatalf("filtered list: %d tasks, %v", len(f.Tasks), err)
	}
}

// Pages read at different store versions make a list with no version; pages
// of one version keep it.
func TestFollowPagesKeepsOnlyOneVersion(t *testing.T) {
	for _, tc := range []struct {
		name     string
		versions []uint64
		want     uint64
	}{
		{"one version", []uint64{7, 7, 7}, 7},
		{"a write between pages", []uint64{7, 7, 8}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page := 0
			invoker := func(_ context.Context, _ string, _, reply any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
				r := reply.(*minswv1.ListServicesResponse)
				r.Services = []*minswv1.Service{{Id: fmt.Sprint(page)}}
				r.StoreVersion = tc.versions[page]
				if page++; page < len(tc.versions) {
					r.NextPageToken = fmt.Sprint(page)
				}
				return nil
			}
			var got minswv1.ListServicesResponse
			if err := FollowPages(context.Background(), "/minsw.v1.Control/ListServices", &minswv1.ListServicesRequest{}, &got, nil, invoker); err != nil {
				t.Fatal(err)
			}
			if len(got.Services) != len(tc.versions) || got.StoreVersion != tc.want {
				t.Fatalf("%d services at version %d, want %d at %d", len(got.Services), got.StoreVersion, len(tc.versions), tc.want)
			}
		})
	}
}
