package convert

import (
	"github.com/docker/docker/api/types/swarm"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

var updateStates = map[api.UpdateState]swarm.UpdateState{
	api.UpdateState_UPDATE_STATE_UPDATING:           swarm.UpdateStateUpdating,
	api.UpdateState_UPDATE_STATE_PAUSED:             swarm.UpdateStatePaused,
	api.UpdateState_UPDATE_STATE_COMPLETED:          swarm.UpdateStateCompleted,
	api.UpdateState_UPDATE_STATE_ROLLBACK_STARTED:   swarm.UpdateStateRollbackStarted,
	api.UpdateState_UPDATE_STATE_ROLLBACK_PAUSED:    swarm.UpdateStateRollbackPaused,
	api.UpdateState_UPDATE_STATE_ROLLBACK_COMPLETED: swarm.UpdateStateRollbackCompleted,
}

// UpdateStatus is the service's rolling update state as docker shows it
// (the docker CLI's progress display follows it); nil when none.
func UpdateStatus(u *api.UpdateStatus) *swarm.UpdateStatus {
	st, ok := updateStates[u.GetState()]
	if !ok {
		return nil
	}
	out := &swarm.UpdateStatus{State: st, Message: u.GetMessage()}
	if t := u.GetStartedAt(); t != nil {
		v := t.AsTime()
		out.StartedAt = &v
	}
	if t := u.GetCompletedAt(); t != nil {
		v := t.AsTime()
		out.CompletedAt = &v
	}
	return out
}
