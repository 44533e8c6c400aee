package controlapi

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

func TestWatchEvent(t *testing.T) {
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	updated := timestamppb.New(now.Add(-time.Second))
	svc := &api.Service{Id: "s", Meta: &api.Meta{UpdatedAt: updated}}
	if ev := watchEvent(store.Event{Kind: store.EventCreate, Table: store.TableService, Object: svc}, now); ev.GetAction() != "create" || ev.GetService() != svc || !ev.GetTime().AsTime().Equal(updated.AsTime()) {
		t.Fatalf("service create: %v", ev)
	}
	if ev := watchEvent(store.Event{Kind: store.EventDelete, Table: store.TableService, Object: svc}, now); ev.GetAction() != "remove" || !ev.GetTime().AsTime().Equal(now) {
		t.Fatalf("service remove: %v", ev)
	}
	sec := &api.Secret{Id: "x", Spec: &api.SecretSpec{Name: "pw", Data: []byte("hunter2")}}
	ev := watchEvent(store.Event{Kind: store.EventUpdate, Table: store.TableSecret, Object: sec}, now)
	if ev.GetSecret().GetSpec().GetName() != "pw" || ev.GetSecret().GetSpec().GetData() != nil || string(sec.Spec.Data) != "hunter2" {
		t.Fatalf("secret event must drop the data and leave the stored object alone: %v / %v", ev, sec)
	}
	if ev := watchEvent(store.Event{Kind: store.EventReset}, now); ev != nil {
		t.Fatalf("reset: %v", ev)
	}
	if ev := watchEvent(store.Event{Kind: store.EventCreate, Table: store.TableTask, Object: &api.Task{Id: "t"}}, now); ev != nil {
		t.Fatalf("task: %v", ev)
	}
}
