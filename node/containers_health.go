package node

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/agent"
)

// addHealth fills a task container's health from the agent that runs its
// check (nothing for containers without one, or without an agent).
func (c *containersAPI) addHealth(ct *api.Container) {
	c.n.mu.Lock()
	a := c.n.agent
	c.n.mu.Unlock()
	id := ct.GetLabels()[agent.LabelTaskID]
	if a == nil || id == "" {
		return
	}
	state, streak, probes := a.Health(id)
	ct.Health = state
	ct.FailingStreak = int32(streak)
	for _, p := range probes {
		ct.HealthLog = append(ct.HealthLog, &api.HealthProbe{
			Start: timestamppb.New(p.Start), End: timestamppb.New(p.End), ExitCode: int32(p.ExitCode), Output: p.Output,
		})
	}
}
