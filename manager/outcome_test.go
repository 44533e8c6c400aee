package manager

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Over real managers: a refusal relayed through a follower keeps its code
// (the leader's answer carries the trailer), and a create on a leader whose
// followers are gone is reported as an unknown outcome, not a failure.
func TestOutcomesOverTCP(t *testing.T) {
	ms := threeManagers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var leader *Manager
	var followers []*Manager
	for _, m := range ms {
		if m.IsLeader() {
			leader = m
		} else {
			followers = append(followers, m)
		}
	}
	viaFollower := api.NewControlClient(dial(t, followers[0]))
	if _, err := viaFollower.CreateService(ctx, &api.CreateServiceRequest{Spec: service("web"), IdempotencyKey: "k-web"}); err != nil {
		t.Fatal(err)
	}
	_, err := viaFollower.CreateService(ctx, &api.CreateServiceRequest{Spec: service("web")})
	if status.Code(err) != codes.AlreadyExists {
		t.Fatalf("a second web through a follower: %v", err)
	}
	again, err := viaFollower.CreateService(ctx, &api.CreateServiceRequest{Spec: service("web"), IdempotencyKey: "k-web"})
	if err != nil || again.Service.Spec.Name != "web" {
		t.Fatalf("the same create retried through a follower: %v %v", again, err)
	}

	onLeader := api.NewControlClient(dial(t, leader))
	for _, f := range followers {
		f.Stop()
	}
	_, err = onLeader.CreateService(ctx, &api.CreateServiceRequest{Spec: service("q2-1"), IdempotencyKey: "k-q2"})
	if errdefs.KindOf(err) != errdefs.KindOutcomeUnknown && status.Code(err) != codes.Unavailable {
		t.Fatalf("create with both followers gone: %v", err)
	}
	if status.Code(err) == codes.Unavailable && !strings.HasPrefix(status.Convert(err).Message(), "the swarm does not have a leader") {
		t.Fatalf("create with both followers gone: %v", err)
	}
	t.Logf("create with both followers gone: %v", err)
}
