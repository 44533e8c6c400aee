// Package update rolls a service's tasks over to its current spec, on the
// leader: a few slots at a time (parallelism, delay, stop-first or
// start-first), watching the new tasks for a monitor window and pausing,
// continuing or rolling back when too many fail. It keeps the service's
// UpdateStatus. It never restarts tasks that end (the orchestrator's
// restart policy does), never places tasks (the scheduler does) and never
// touches addresses (the allocator does).
//
// Decide is the pure core: the store's service, its tasks and the time in,
// a Plan out. Updater applies plans and wakes at the times they ask.
package update

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/minsw/minsw/manager/orchestrator"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Swarm's defaults for an unset UpdateConfig (and rollback config).
const (
	DefaultParallelism = 1
	DefaultMonitor     = 5 * time.Second
)

// Messages as swarmkit writes them into UpdateStatus; docker's CLI and
// users' scripts look for these words.
const (
	MsgInProgress        = "update in progress"
	MsgCompleted         = "update completed"
	MsgPausedFmt         = "update paused due to failure or early termination of task %s"
	MsgRolledBackFmt     = "update rolled back due to failure or early termination of task %s"
	MsgRollbackPausedFmt = "rollback paused due to failure or early termination of task %s"
	MsgRollbackCompleted = "rollback completed"
	MsgManualRollback    = "manually requested rollback"
)

// Input is everything a decision looks at.
type Input struct {
	Service *api.Service
	// Tasks are the service's tasks, any state.
	Tasks []*api.Task
	Now   time.Time
	// RunningSince holds when the updater first saw each task running; a
	// running task missing from it counts as running since Now.
	RunningSince map[string]time.Time
	// NodeDown says a node is gone or down, so its tasks will never report
	// that they stopped (nil: every node is up).
	NodeDown func(nodeID string) bool
}

// Slot names one slot: a replica number, or a node for a global service.
type Slot struct {
	Slot uint64
	Node string
}

// Plan is what to write, in one store transaction.
type Plan struct {
	// Status, when set, replaces the service's UpdateStatus.
	Status *api.UpdateStatus
	// Rollback asks to restore previous_spec (Status carries the reason).
	Rollback bool
	// Adopt are old-version tasks already running the current spec (after
	// a rollback): they are relabelled, not replaced.
	Adopt []string
	// Shutdown are old tasks to stop (desired state SHUTDOWN).
	Shutdown []string
	// Start are slots that get a task on the current spec now.
	Start []Slot
	// Hold gives, for a slot of Start, the tasks its new task must wait
	// for (stop-first: the old ones, told to stop in this plan): the new
	// task is made desired ready and released when they have stopped.
	Hold map[Slot][]string
	// Release are held tasks whose predecessors have stopped: their
	// desired state goes from ready to running.
	Release []string
	// Wake is when to decide again though nothing changed (delay or
	// monitor running out); zero: only on a change.
	Wake time.Time
}

// Empty says the plan changes nothing.
func (p Plan) Empty() bool {
	return p.Status == nil && !p.Rollback && len(p.Adopt) == 0 && len(p.Shutdown) == 0 && len(p.Start) == 0 &&
		len(p.Release) == 0
}

// Rollout is an UpdateConfig with Swarm's defaults filled in.
type Rollout struct {
	Parallelism     int // 0: all at once
	Delay           time.Duration
	Monitor         time.Duration
	FailureAction   api.UpdateFailureAction
	MaxFailureRatio float32
	StartFirst      bool
}

// ConfigOf fills Swarm's defaults into c (nil: all defaults).
func ConfigOf(c *api.UpdateConfig) Rollout {
	if c == nil {
		return Rollout{Parallelism: DefaultParallelism, Monitor: DefaultMonitor}
	}
	cfg := Rollout{
		Parallelism:     int(c.GetParallelism()),
		Delay:           c.GetDelay().AsDuration(),
		Monitor:         DefaultMonitor,
		FailureAction:   c.GetFailureAction(),
		MaxFailureRatio: c.GetMaxFailureRatio(),
		StartFirst:      c.GetOrder() == api.UpdateOrder_UPDATE_ORDER_START_FIRST,
	}
	if c.GetMonitor() != nil {
		cfg.Monitor = c.GetMonitor().AsDuration()
	}
	return cfg
}

func isLive(t *api.Task) bool { return t.GetDesiredState() <= api.TaskState_TASK_STATE_RUNNING }
func isTerminal(t *api.Task) bool {
	return t.GetStatus().GetState() >= api.TaskState_TASK_STATE_COMPLETE
}
func isRunning(t *api.Task) bool {
	return t.GetStatus().GetState() == api.TaskState_TASK_STATE_RUNNING
}

// serving says t runs and, if it has a health check, its check passed: it
// is a load balancer backend, so the task it replaces may go (start-first)
// and the slot is done. The agent reports running only once healthy, but
// a task that runs while its check is starting or failing (an agent that
// reports otherwise, a task turning unhealthy) must not take over a slot.
func serving(t *api.Task) bool {
	if !isRunning(t) {
		return false
	}
	switch t.GetStatus().GetHealth() {
	case api.HealthState_HEALTH_STATE_NONE, api.HealthState_HEALTH_STATE_HEALTHY:
		return true
	}
	return false
}

// failed says t ended on its own (not stopped by us): a failure for the
// update, as swarmkit counts early termination.
func failed(t *api.Task) bool {
	switch t.GetStatus().GetState() {
	case api.TaskState_TASK_STATE_FAILED, api.TaskState_TASK_STATE_REJECTED, api.TaskState_TASK_STATE_COMPLETE:
		return true
	}
	return false
}

// sameSpec says t already runs what svc asks (a rolled-back task).
func sameSpec(svc *api.Service, t *api.Task) bool {
	return proto.Equal(t.GetSpec(), svc.GetSpec().GetTask()) && proto.Equal(t.GetEndpoint(), svc.GetEndpoint())
}

func rollingBack(s api.UpdateState) bool {
	return s == api.UpdateState_UPDATE_STATE_ROLLBACK_STARTED ||
		s == api.UpdateState_UPDATE_STATE_ROLLBACK_PAUSED ||
		s == api.UpdateState_UPDATE_STATE_ROLLBACK_COMPLETED
}

type slotState struct {
	key Slot
	cur *api.Task   // newest live task on the current version
	old []*api.Task // live tasks on older versions
}

// Decide says what the updater does next for one service.
func Decide(in Input) Plan {
	svc := in.Service
	v := svc.GetSpecVersion()
	var plan Plan

	since := func(t *api.Task) time.Time {
		if at, ok := in.RunningSince[t.GetId()]; ok {
			return at
		}
		return in.Now
	}

	// Group live tasks by slot; adopt old tasks that already match.
	global := svc.GetSpec().GetGlobal() != nil
	slotOf := func(t *api.Task) Slot {
		if global {
			return Slot{Node: t.GetNodeId()}
		}
		return Slot{Slot: t.GetSlot()}
	}
	slots := map[Slot]*slotState{}
	var order []Slot
	adopted := map[string]bool{}
	// stopping are the tasks told to stop that have not stopped yet.
	stopping := map[Slot][]string{}
	byID := make(map[string]*api.Task, len(in.Tasks))
	for _, t := range in.Tasks {
		byID[t.GetId()] = t
		if !isLive(t) && !isTerminal(t) {
			stopping[slotOf(t)] = append(stopping[slotOf(t)], t.GetId())
		}
	}
	for _, t := range in.Tasks {
		if !isLive(t) {
			continue
		}
		k := slotOf(t)
		s := slots[k]
		if s == nil {
			s = &slotState{key: k}
			slots[k] = s
			order = append(order, k)
		}
		ver := t.GetSpecVersion()
		if ver != v && sameSpec(svc, t) && !isTerminal(t) {
			plan.Adopt = append(plan.Adopt, t.GetId())
			adopted[t.GetId()] = true
			ver = v
		}
		if ver == v {
			// Two current tasks (a lost race) are the orchestrator's to
			// settle; the newest speaks for the slot.
			if s.cur == nil || newer(t, s.cur) {
				s.cur = t
			}
		} else {
			s.old = append(s.old, t)
		}
	}
	sort.Slice(order, func(i, j int) bool {
		if order[i].Slot != order[j].Slot {
			return order[i].Slot < order[j].Slot
		}
		return order[i].Node < order[j].Node
	})
	if global {
		// Slot 0 tasks without a node are the orchestrator's, not a slot.
		delete(slots, Slot{})
	}

	var dirty, inFlight []*slotState
	for _, k := range order {
		s := slots[k]
		if s == nil {
			continue
		}
		switch {
		case s.cur == nil && slices.ContainsFunc(s.old, func(t *api.Task) bool { return !isTerminal(t) }):
			// (A slot whose task ended is the orchestrator's: its restart
			// makes a task on the current spec.)
			dirty = append(dirty, s)
		case s.cur == nil:
			inFlight = append(inFlight, s) // waiting for the orchestrator's restart
		case !serving(s.cur):
			inFlight = append(inFlight, s)
			if held(s.cur) && stopped(s.cur.GetStartAfterStop(), byID, in.NodeDown) {
				if at := restartDue(s.cur, in.Tasks, slotOf); in.Now.Before(at) {
					plan.Wake = earliest(plan.Wake, at)
				} else {
					plan.Release = append(plan.Release, s.cur.GetId())
				}
			}
			// start-first: an old task that died meanwhile is stopped.
			for _, o := range s.old {
				if isTerminal(o) {
					plan.Shutdown = append(plan.Shutdown, o.GetId())
				}
			}
		default:
			// The new task runs and is healthy, so it is in the load
			// balancer: the old ones (start-first) may go.
			for _, o := range s.old {
				plan.Shutdown = append(plan.Shutdown, o.GetId())
			}
		}
	}

	st := svc.GetUpdateStatus()
	if st == nil || st.GetSpecVersion() != v {
		if len(dirty) == 0 && !slices.ContainsFunc(inFlight, func(s *slotState) bool { return len(s.old) > 0 }) {
			// Nothing to roll out: no slot holds a task of an older
			// version. A new service's first tasks, or a scale-up's, are
			// the orchestrator's and get no UpdateStatus, as in Swarm.
			return plan
		}
		st = &api.UpdateStatus{
			State: api.UpdateState_UPDATE_STATE_UPDATING, SpecVersion: v,
			StartedAt: tspb(in.Now), Message: MsgInProgress,
		}
		plan.Status = st
	}
	rollback := rollingBack(st.GetState())
	cfg := ConfigOf(svc.GetSpec().GetUpdate())
	if rollback {
		cfg = ConfigOf(svc.GetSpec().GetRollback())
	}

	switch st.GetState() {
	case api.UpdateState_UPDATE_STATE_PAUSED, api.UpdateState_UPDATE_STATE_ROLLBACK_PAUSED:
		return plan
	case api.UpdateState_UPDATE_STATE_UPDATING, api.UpdateState_UPDATE_STATE_ROLLBACK_STARTED:
		// Failures: tasks of this version that ended on their own before
		// their monitor window passed.
		var failedIDs []string
		for _, t := range in.Tasks {
			if t.GetSpecVersion() != v || adopted[t.GetId()] || !failed(t) {
				continue
			}
			if at, ok := in.RunningSince[t.GetId()]; ok && cfg.Monitor > 0 &&
				t.GetStatus().GetTimestamp().AsTime().Sub(at) > cfg.Monitor {
				continue // failed long after it proved itself
			}
			failedIDs = append(failedIDs, t.GetId())
		}
		total := len(slots)
		if total == 0 {
			total = 1
		}
		if len(failedIDs) > 0 && float32(len(failedIDs))/float32(total) > cfg.MaxFailureRatio &&
			cfg.FailureAction != api.UpdateFailureAction_UPDATE_FAILURE_ACTION_CONTINUE {
			sort.Strings(failedIDs)
			culprit := failedIDs[len(failedIDs)-1]
			ns := proto.Clone(st).(*api.UpdateStatus)
			switch {
			case rollback:
				ns.State = api.UpdateState_UPDATE_STATE_ROLLBACK_PAUSED
				ns.Message = fmt.Sprintf(MsgRollbackPausedFmt, culprit)
			case cfg.FailureAction == api.UpdateFailureAction_UPDATE_FAILURE_ACTION_ROLLBACK && svc.GetPreviousSpec() != nil:
				ns.State = api.UpdateState_UPDATE_STATE_ROLLBACK_STARTED
				ns.Message = fmt.Sprintf(MsgRolledBackFmt, culprit)
				ns.StartedAt = tspb(in.Now)
				plan.Rollback = true
			default:
				ns.State = api.UpdateState_UPDATE_STATE_PAUSED
				ns.Message = fmt.Sprintf(MsgPausedFmt, culprit)
			}
			plan.Status = ns
			plan.Start = nil
			return plan
		}
	}

	// Start as many dirty slots as parallelism and delay allow.
	free := len(dirty)
	if cfg.Parallelism > 0 {
		free = max(cfg.Parallelism-len(inFlight), 0)
	}
	if free > 0 && len(dirty) > 0 && cfg.Delay > 0 {
		// The delay runs from the last task of this update that came up.
		var last time.Time
		for _, s := range slots {
			if s.cur != nil && isRunning(s.cur) && !adopted[s.cur.GetId()] && s.cur.GetSpecVersion() == v {
				if at := since(s.cur); at.After(last) && !at.Before(st.GetStartedAt().AsTime()) {
					last = at
				}
			}
		}
		if !last.IsZero() && in.Now.Before(last.Add(cfg.Delay)) {
			plan.Wake = last.Add(cfg.Delay)
			free = 0
		}
	}
	for _, s := range dirty[:min(free, len(dirty))] {
		plan.Start = append(plan.Start, s.key)
		if cfg.StartFirst {
			continue
		}
		// stop-first, as Swarm's: the new task starts only once the old
		// ones have stopped.
		wait := slices.Clone(stopping[s.key])
		for _, o := range s.old {
			plan.Shutdown = append(plan.Shutdown, o.GetId())
			if !isTerminal(o) {
				wait = append(wait, o.GetId())
			}
		}
		if len(wait) > 0 {
			if plan.Hold == nil {
				plan.Hold = map[Slot][]string{}
			}
			slices.Sort(wait)
			plan.Hold[s.key] = wait
		}
	}

	// Done once every slot runs the new spec and the monitor window of
	// the last one has passed.
	active := st.GetState() == api.UpdateState_UPDATE_STATE_UPDATING || st.GetState() == api.UpdateState_UPDATE_STATE_ROLLBACK_STARTED
	if active && len(dirty) == 0 && len(inFlight) == 0 {
		var last time.Time
		for _, s := range slots {
			if s.cur != nil {
				if at := since(s.cur); at.After(last) {
					last = at
				}
			}
		}
		if end := last.Add(cfg.Monitor); in.Now.Before(end) {
			plan.Wake = end
		} else {
			ns := proto.Clone(st).(*api.UpdateStatus)
			ns.State, ns.Message = api.UpdateState_UPDATE_STATE_COMPLETED, MsgCompleted
			if rollback {
				ns.State, ns.Message = api.UpdateState_UPDATE_STATE_ROLLBACK_COMPLETED, MsgRollbackCompleted
			}
			ns.CompletedAt = tspb(in.Now)
			plan.Status = ns
		}
	}
	return plan
}

// held says t waits at ready for other tasks to stop (Plan.Hold).
func held(t *api.Task) bool {
	return t.GetDesiredState() == api.TaskState_TASK_STATE_READY && len(t.GetStartAfterStop()) > 0
}

// restartDue is when a held task may start at the earliest: a task the
// orchestrator made to restart one of the same version that ended on its
// own while held (it hands the hold on) waits out the restart delay too,
// as any restarted task does; the updater's own held tasks wait for
// nothing more (zero).
func restartDue(t *api.Task, tasks []*api.Task, slotOf func(*api.Task) Slot) time.Time {
	created := t.GetMeta().GetCreatedAt().AsTime()
	for _, o := range tasks {
		if o.GetId() == t.GetId() || o.GetSpecVersion() != t.GetSpecVersion() || slotOf(o) != slotOf(t) ||
			!failed(o) || o.GetMeta().GetCreatedAt().AsTime().After(created) {
			continue
		}
		delay := orchestrator.DefaultRestartDelay
		if d := t.GetSpec().GetRestart().GetDelay(); d != nil {
			delay = d.AsDuration()
		}
		return created.Add(delay)
	}
	return time.Time{}
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// stopped is the stop-first hold's rule (orchestrator.HoldOverBy) over
// the tasks Decide was given.
func stopped(ids []string, byID map[string]*api.Task, nodeDown func(string) bool) bool {
	return orchestrator.HoldOverBy(ids, func(id string) *api.Task { return byID[id] }, nodeDown)
}

// newer orders tasks by creation, then ID (both stable in the store).
func newer(a, b *api.Task) bool {
	at, bt := a.GetMeta().GetCreatedAt().AsTime(), b.GetMeta().GetCreatedAt().AsTime()
	if !at.Equal(bt) {
		return at.After(bt)
	}
	return a.GetId() > b.GetId()
}

func tspb(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }
