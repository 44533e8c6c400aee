package container

import (
	"time"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/health"
)

// healthSuffix is what docker adds to "Up 2 minutes": " (healthy)",
// " (health: starting)", " (unhealthy)", or nothing without a check.
func healthSuffix(ct *minswv1.Container) string {
	if s := health.StatusText(ct.GetHealth()); s != "" {
		return " " + s
	}
	return ""
}

// containerHealth is docker's State.Health in `container inspect`.
type containerHealth struct {
	Status        string
	FailingStreak int32
	Log           []healthProbe
}

type healthProbe struct {
	Start    string
	End      string
	ExitCode int32
	Output   string
}

func inspectHealth(ct *minswv1.Container) *containerHealth {
	var status string
	switch ct.GetHealth() {
	case minswv1.HealthState_HEALTH_STATE_STARTING:
		status = "starting"
	case minswv1.HealthState_HEALTH_STATE_HEALTHY:
		status = "healthy"
	case minswv1.HealthState_HEALTH_STATE_UNHEALTHY:
		status = "unhealthy"
	default:
		return nil
	}
	h := &containerHealth{Status: status, FailingStreak: ct.GetFailingStreak(), Log: []healthProbe{}}
	for _, p := range ct.GetHealthLog() {
		h.Log = append(h.Log, healthProbe{Start: p.GetStart().AsTime().Format(time.RFC3339Nano), End: p.GetEnd().AsTime().Format(time.RFC3339Nano),
			ExitCode: p.GetExitCode(), Output: p.GetOutput()})
	}
	return h
}
