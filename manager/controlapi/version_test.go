package controlapi

import (
	"context"
	"testing"

	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// A list read at a store version answers "unchanged" to a caller holding
// that version, and the full list again after any write.
func TestListServicesUnlessStoreVersion(t *testing.T) {
	s, _ := newServer(t)
	ctx := context.Background()
	first, err := s.ListServices(ctx, &api.ListServicesRequest{})
	if err != nil || first.GetStoreVersion() == 0 || len(first.GetServices()) == 0 {
		t.Fatalf("first list: %v %v", first, err)
	}
	tasks, err := s.ListTasks(ctx, &api.ListTasksRequest{})
	if err != nil || tasks.GetStoreVersion() != first.GetStoreVersion() {
		t.Fatalf("tasks read at version %d, services at %d (%v)", tasks.GetStoreVersion(), first.GetStoreVersion(), err)
	}
	same, err := s.ListServices(ctx, &api.ListServicesRequest{UnlessStoreVersion: first.GetStoreVersion()})
	if err != nil || !same.GetUnchanged() || len(same.GetServices()) != 0 || same.GetStoreVersion() != first.GetStoreVersion() {
		t.Fatalf("unchanged store: %v %v", same, err)
	}
	if _, err := s.CreateService(ctx, &api.CreateServiceRequest{Spec: webSpec("after")}); err != nil {
		t.Fatal(err)
	}
	after, err := s.ListServices(ctx, &api.ListServicesRequest{UnlessStoreVersion: first.GetStoreVersion()})
	if err != nil || after.GetUnchanged() || after.GetStoreVersion() <= first.GetStoreVersion() || len(after.GetServices()) != len(first.GetServices())+1 {
		t.Fatalf("after a write: unchanged=%v version %d (was %d), %d services (was %d), %v",
			after.GetUnchanged(), after.GetStoreVersion(), first.GetStoreVersion(), len(after.GetServices()), len(first.GetServices()), err)
	}
}

// committed_only answers with the service as committed, ID included.
func TestCreateServiceCommittedOnly(t *testing.T) {
	s, st := newServer(t)
	resp, err := s.CreateService(context.Background(), &api.CreateServiceRequest{Spec: webSpec("fast"), CommittedOnly: true})
	if err != nil || resp.GetService().GetId() == "" || resp.GetService().GetSpec().GetName() != "fast" {
		t.Fatalf("create: %v %v", resp, err)
	}
	var stored *api.Service
	st.View(func(tx store.ReadTx) { stored = tx.Service(resp.GetService().GetId()) })
	if stored == nil {
		t.Fatal("the answered service is not in the store")
	}
}
