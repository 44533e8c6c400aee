package orchestrator

import (
	"sort"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// isJob reports whether a service runs to completion (replicated-job or
// global-job) instead of being kept running.
func isJob(svc *api.Service) bool {
	return svc.GetSpec().GetReplicatedJob() != nil || svc.GetSpec().GetGlobalJob() != nil
}

// job reconciles a job: its tasks run once to completion and are not
// restarted when they complete; a failed task is retried by the restart
// policy. An update of the spec starts the job over (a new iteration):
// tasks of the old spec are shut down, completed ones are history.
func (p *pass) job(svc *api.Service, tasks []*api.Task) error {
	var current []*api.Task
	for _, t := range tasks {
		if t.GetSpecVersion() == svc.GetSpecVersion() {
			current = append(current, t)
			continue
		}
		if isLive(t) {
			if err := p.setDesired(t, api.TaskState_TASK_STATE_SHUTDOWN, "replaced by an update"); err != nil {
				return err
			}
		}
	}
	if svc.GetSpec().GetGlobalJob() != nil {
		return p.globalJob(svc, current)
	}
	return p.replicatedJob(svc, current)
}

// jobSlot is where one completion of a job stands.
type jobSlot int

const (
	slotFree jobSlot = iota // nothing running, not done: may start
	slotBusy                // a task is running or waiting to start
	slotDone                // completed, or failed for good
)

// jobTask settles the live task of a slot (or node) that ended: a completed
// one is done for good, a failed one is restarted by the restart policy.
func (p *pass) jobSlot(svc *api.Service, history []*api.Task) (jobSlot, error) {
	for _, t := range history {
		if t.GetStatus().GetState() == api.TaskState_TASK_STATE_COMPLETE {
			if isLive(t) {
				if err := p.setDesired(t, api.TaskState_TASK_STATE_COMPLETE, ""); err != nil {
					return 0, err
				}
			}
			return slotDone, nil
		}
	}
	var live *api.Task
	for _, t := range history {
		if isLive(t) {
			live = t
		}
	}
	switch {
	case live == nil && p.slotDone(svc, history):
		return slotDone, nil
	case live == nil:
		return slotFree, nil
	case isTerminal(live.GetStatus().GetState()):
		if err := p.restart(svc, live); err != nil {
			return 0, err
		}
		for _, t := range p.tx.TasksByService(svc.GetId()) {
			if isLive(t) && t.GetSlot() == live.GetSlot() && t.GetNodeId() == live.GetNodeId() && t.GetId() != live.GetId() {
				return slotBusy, nil
			}
		}
		return slotDone, nil
	case !p.nodeUsable(live.GetNodeId()):
		if err := p.setDesired(live, api.TaskState_TASK_STATE_SHUTDOWN, "node is down or drained"); err != nil {
			return 0, err
		}
		return slotFree, nil
	}
	return slotBusy, nil
}

func (p *pass) replicatedJob(svc *api.Service, tasks []*api.Task) error {
	j := svc.GetSpec().GetReplicatedJob()
	slots := map[uint64][]*api.Task{}
	for _, t := range tasks {
		slots[t.GetSlot()] = append(slots[t.GetSlot()], t)
	}
	busy := 0
	var free []uint64
	for slot := uint64(1); slot <= j.GetTotalCompletions(); slot++ {
		st, err := p.jobSlot(svc, slots[slot])
		if err != nil {
			return err
		}
		switch st {
		case slotBusy:
			busy++
		case slotFree:
			free = append(free, slot)
		}
	}
	for _, slot := range free {
		if uint64(busy) >= j.GetMaxConcurrent() {
			break
		}
		if err := p.create(svc, slot, "", 0, nil); err != nil {
			return err
		}
		busy++
	}
	return nil
}

func (p *pass) globalJob(svc *api.Service, tasks []*api.Task) error {
	eligible, err := p.eligibleNodes(svc)
	if err != nil {
		return nil // refused at the API; a stored bad constraint places nothing
	}
	byNode := map[string][]*api.Task{}
	for _, t := range tasks {
		byNode[t.GetNodeId()] = append(byNode[t.GetNodeId()], t)
	}
	ids := make([]string, 0, len(eligible))
	for id := range eligible {
		ids = append(ids, id)
	}
	for id := range byNode {
		if !eligible[id] {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		st, err := p.jobSlot(svc, byNode[id])
		if err != nil {
			return err
		}
		if st == slotFree && eligible[id] {
			if err := p.create(svc, 0, id, 0, nil); err != nil {
				return err
			}
		}
	}
	return nil
}
