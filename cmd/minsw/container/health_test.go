package container

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

func TestContainerStatusShowsHealth(t *testing.T) {
	now := time.Now()
	for h, want := range map[minswv1.HealthState]string{
		minswv1.HealthState_HEALTH_STATE_NONE:      "Up 2 minutes",
		minswv1.HealthState_HEALTH_STATE_STARTING:  "Up 2 minutes (health: starting)",
		minswv1.HealthState_HEALTH_STATE_HEALTHY:   "Up 2 minutes (healthy)",
		minswv1.HealthState_HEALTH_STATE_UNHEALTHY: "Up 2 minutes (unhealthy)",
	} {
		ct := &minswv1.Container{State: "running", StartedAt: timestamppb.New(now.Add(-2 * time.Minute)), Health: h}
		if got := containerStatus(ct, now); got != want {
			t.Errorf("%v: %q, want %q", h, got, want)
		}
	}
	ct := &minswv1.Container{State: "running", Health: minswv1.HealthState_HEALTH_STATE_UNHEALTHY, FailingStreak: 3,
		HealthLog: []*minswv1.HealthProbe{{ExitCode: 1, Output: "connection refused", Start: timestamppb.New(now), End: timestamppb.New(now)}}}
	got := inspectContainer(ct).State.Health
	if got == nil || got.Status != "unhealthy" || got.FailingStreak != 3 || len(got.Log) != 1 || got.Log[0].Output != "connection refused" {
		t.Errorf("inspect health %+v", got)
	}
}
