package controlapi

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

func TestRollbackSaysSoInUpdateStatus(t *testing.T) {
	s, _ := newServer(t)
	ctx := context.Background()
	get := func() *api.Service {
		r, err := s.GetService(ctx, &api.GetServiceRequest{Ref: "web"})
		if err != nil {
			t.Fatal(err)
		}
		return r.Service
	}
	spec := proto.Clone(get().Spec).(*api.ServiceSpec)
	spec.Task.Container.Image = "containous/whoami:v2"
	if _, err := s.UpdateService(ctx, &api.UpdateServiceRequest{Ref: "web", Version: get().Meta.Version, Spec: spec}); err != nil {
		t.Fatal(err)
	}
	if st := get().UpdateStatus; st != nil {
		t.Fatalf("a new spec keeps an old update status: %v", st)
	}
	if _, err := s.UpdateService(ctx, &api.UpdateServiceRequest{Ref: "web", Version: get().Meta.Version, Rollback: true}); err != nil {
		t.Fatal(err)
	}
	svc := get()
	st := svc.UpdateStatus
	if st.GetState() != api.UpdateState_UPDATE_STATE_ROLLBACK_STARTED || st.GetMessage() != "manually requested rollback" ||
		st.GetSpecVersion() != svc.SpecVersion || st.GetStartedAt() == nil {
		t.Fatalf("status after rollback: %v", st)
	}
	if img := svc.Spec.Task.Container.Image; img != "containous/whoami:latest" {
		t.Fatalf("rolled back to %s", img)
	}
	// The updater's rollback of a version that is no longer current is dropped.
	err := s.RollbackService(ctx, svc.Id, &api.UpdateStatus{State: api.UpdateState_UPDATE_STATE_ROLLBACK_STARTED, SpecVersion: svc.SpecVersion - 1})
	if !errdefs.Is(err, errdefs.KindConflict) {
		t.Fatalf("stale rollback: %v", err)
	}
	if get().Spec.Task.Container.Image != "containous/whoami:latest" {
		t.Fatal("stale rollback changed the spec")
	}
}

func TestBadUpdateConfigIsRefused(t *testing.T) {
	cases := []struct {
		name string
		fn   func(*api.ServiceSpec)
		msg  string
	}{
		{"failure ratio above 1", func(s *api.ServiceSpec) { s.Update = &api.UpdateConfig{MaxFailureRatio: 1.5} }, "invalid update max failure ratio 1.5"},
		{"negative rollback monitor", func(s *api.ServiceSpec) {
			s.Rollback = &api.UpdateConfig{Monitor: durationpb.New(-1)}
		}, "invalid rollback monitor"},
		{"unknown failure action", func(s *api.ServiceSpec) { s.Update = &api.UpdateConfig{FailureAction: 9} }, "invalid update failure action"},
		{"health check without command", func(s *api.ServiceSpec) {
			s.Task.Container.Healthcheck = &api.HealthConfig{Test: []string{"CMD-SHELL"}}
		}, "CMD-SHELL needs a command"},
		{"health check interval too short", func(s *api.ServiceSpec) {
			s.Task.Container.Healthcheck = &api.HealthConfig{Test: []string{"CMD", "true"}, Interval: durationpb.New(1000)}
		}, "invalid health check interval"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, _ := newServer(t)
			spec := webSpec("other")
			c.fn(spec)
			_, err := s.CreateService(context.Background(), &api.CreateServiceRequest{Spec: spec})
			if !errdefs.Is(err, errdefs.KindInvalidArgument) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("err %v, want invalid argument %q", err, c.msg)
			}
			if edgeCode(errdefs.ToGRPC(err)) != codes.InvalidArgument {
				t.Fatalf("maps to %v", edgeCode(errdefs.ToGRPC(err)))
			}
		})
	}
}
