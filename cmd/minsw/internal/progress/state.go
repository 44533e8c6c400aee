// Package progress follows a service until its tasks converge, the way
// `docker service create` does: it turns the service, its tasks and the
// nodes into one line per slot (Evaluate, pure), polls the manager for them
// (Wait), and draws the lines live on a terminal or as plain final lines.
package progress

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/cmd/minsw/internal/format"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// steps numbers the states a task passes through on its way to running;
// the bar of a slot is filled in proportion.
var steps = map[minswv1.TaskState]int64{
	minswv1.TaskState_TASK_STATE_NEW:       1,
	minswv1.TaskState_TASK_STATE_PENDING:   2,
	minswv1.TaskState_TASK_STATE_ASSIGNED:  3,
	minswv1.TaskState_TASK_STATE_ACCEPTED:  4,
	minswv1.TaskState_TASK_STATE_PREPARING: 5,
	minswv1.TaskState_TASK_STATE_READY:     6,
	minswv1.TaskState_TASK_STATE_STARTING:  7,
	minswv1.TaskState_TASK_STATE_RUNNING:   8,
}

// TotalSteps is the step of a running task.
const TotalSteps = 8

// stateWidth pads state names to the longest one ("preparing"), so bars line up.
const stateWidth = 9

// StateName is a task state as users read it: "running", "preparing".
func StateName(s minswv1.TaskState) string {
	name, ok := strings.CutPrefix(s.String(), "TASK_STATE_")
	if !ok {
		return s.String()
	}
	return strings.ToLower(name)
}

// Slot is one line of the display: a replica slot ("1/2") or, for a
// global service, a node.
type Slot struct {
	Label string
	// State is the chosen task's state, "" while the slot has no task.
	State string
	// Step is how far along the task is, 0..TotalSteps.
	Step int64
	// Err is the task's error, shown instead of the bar.
	Err string
	// Stuck is set when the slot cannot make progress by itself: its task
	// waits for a node that does not exist ("no suitable node") or failed
	// and will not be restarted.
	Stuck bool
}

// Line renders the slot as docker prints it:
// "1/2: running   [==================================================>]".
func (s Slot) Line() string {
	if s.Err != "" {
		return fmt.Sprintf("%s: %s", s.Label, s.Err)
	}
	if s.State == "" {
		return s.Label + ":"
	}
	return fmt.Sprintf("%s: %-*s %s", s.Label, stateWidth, s.State, Bar(s.Step, TotalSteps))
}

// Bar draws a 50-wide bar as docker's JSON progress does.
func Bar(current, total int64) string {
	const width = 50
	n := 0
	if total > 0 {
		n = int(min(width*current/total, width))
	}
	return "[" + strings.Repeat("=", n) + ">" + strings.Repeat(" ", width-n) + "]"
}

// Status is what a service looks like at one poll.
type Status struct {
	Running, Desired int
	Slots            []Slot
	// RollingBack says the service returns to its previous spec.
	RollingBack bool
}

// Overall is the first line: "overall progress: 2 out of 2 tasks", or
// "overall progress: rolling back update: 2 out of 2 tasks".
func (s Status) Overall() string {
	if s.RollingBack {
		return fmt.Sprintf("overall progress: rolling back update: %d out of %d tasks", s.Running, s.Desired)
	}
	return fmt.Sprintf("overall progress: %d out of %d tasks", s.Running, s.Desired)
}

// Converged says every desired task runs.
func (s Status) Converged() bool {
	if s.Running != s.Desired {
		return false
	}
	for _, sl := range s.Slots {
		if sl.State != "running" || sl.Err != "" {
			return false
		}
	}
	return true
}

// Stuck returns the lines of the slots that cannot converge, or nil when
// some slot not yet running may still get there.
func (s Status) Stuck() []string {
	var stuck []string
	for _, sl := range s.Slots {
		if sl.State == "running" && sl.Err == "" {
			continue
		}
		if !sl.Stuck {
			return nil
		}
		stuck = append(stuck, sl.Line())
	}
	return stuck
}

func active(t *minswv1.Task) bool {
	return t.GetDesiredState() <= minswv1.TaskState_TASK_STATE_RUNNING
}

func terminal(t *minswv1.Task) bool {
	return t.GetStatus().GetState() > minswv1.TaskState_TASK_STATE_RUNNING
}

// upToDate says t was made from the service's current spec. The version
// covers spec changes; equal task specs cover a scale, which may bump the
// version without touching the tasks.
func upToDate(svc *minswv1.Service, t *minswv1.Task) bool {
	return t.GetSpecVersion() >= svc.GetSpecVersion() || proto.Equal(t.GetSpec(), svc.GetSpec().GetTask())
}

func newer(a, b *minswv1.Task) int {
	at, bt := a.GetMeta().GetCreatedAt().AsTime(), b.GetMeta().GetCreatedAt().AsTime()
	if c := at.Compare(bt); c != 0 {
		return c
	}
	return cmp.Compare(a.GetStatus().GetState(), b.GetStatus().GetState())
}

// Evaluate turns the service, its tasks and the nodes into the display's
// status. It does no I/O.
func Evaluate(svc *minswv1.Service, tasks []*minswv1.Task, nodes []*minswv1.Node) Status {
	down := map[string]bool{}
	for _, n := range nodes {
		if n.GetStatus().GetState() == minswv1.NodeState_NODE_STATE_DOWN {
			down[n.GetId()] = true
		}
	}
	bySlot := map[string][]*minswv1.Task{}
	for _, t := range tasks {
		if t.GetServiceId() != svc.GetId() || !upToDate(svc, t) {
			continue
		}
		if t.GetNodeId() != "" && down[t.GetNodeId()] && active(t) {
			continue
		}
		key := t.GetNodeId()
		if svc.GetSpec().GetGlobal() == nil {
			key = fmt.Sprint(t.GetSlot())
		}
		bySlot[key] = append(bySlot[key], t)
	}
	restart := svc.GetSpec().GetTask().GetRestart().GetCondition()

	var st Status
	if g := svc.GetSpec().GetGlobal(); g != nil {
		var keys []string
		for k, ts := range bySlot {
			if k != "" && slices.ContainsFunc(ts, active) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			st.Slots = append(st.Slots, evaluateSlot(format.TruncateID(k), bySlot[k], restart))
		}
		st.Desired = len(keys)
	} else {
		replicas := svc.GetSpec().GetReplicated().GetReplicas()
		st.Desired = int(replicas)
		for i := uint64(1); i <= replicas; i++ {
			st.Slots = append(st.Slots, evaluateSlot(fmt.Sprintf("%d/%d", i, replicas), bySlot[fmt.Sprint(i)], restart))
		}
	}
	for _, sl := range st.Slots {
		if sl.State == "running" && sl.Err == "" {
			st.Running++
		}
	}
	return st
}

// evaluateSlot picks the task that speaks for a slot: the newest one still
// meant to run, else the newest of all (to show why it stopped).
func evaluateSlot(label string, tasks []*minswv1.Task, restart minswv1.RestartCondition) (sl Slot) {
	sl = Slot{Label: label}
	if len(tasks) == 0 {
		return sl
	}
	var current, lastFailed *minswv1.Task
	failures := 0
	for _, t := range tasks {
		if active(t) && !terminal(t) && (current == nil || newer(t, current) > 0) {
			current = t
		}
		if terminal(t) && t.GetStatus().GetErr() != "" && (lastFailed == nil || newer(t, lastFailed) > 0) {
			lastFailed = t
		}
		if terminal(t) && t.GetStatus().GetErr() != "" {
			failures++
		}
	}
	// A slot whose tasks keep failing (an image that cannot be pulled)
	// cannot converge by itself, though it is retried at the restart delay.
	const hopeless = 3
	defer func() {
		if failures >= hopeless && sl.State != "running" {
			sl.Stuck = true
		}
	}()
	if current == nil {
		// Nothing will run here unless the orchestrator makes a new task;
		// with restart condition none (or on-failure after a clean exit) it won't.
		t := slices.MaxFunc(tasks, newer)
		sl.State = StateName(t.GetStatus().GetState())
		sl.Err = t.GetStatus().GetErr()
		state := t.GetStatus().GetState()
		sl.Stuck = restart == minswv1.RestartCondition_RESTART_CONDITION_NONE ||
			(restart == minswv1.RestartCondition_RESTART_CONDITION_ON_FAILURE && state == minswv1.TaskState_TASK_STATE_COMPLETE)
		if sl.Err == "" && state != minswv1.TaskState_TASK_STATE_COMPLETE {
			sl.Err = "task: " + sl.State
		}
		return sl
	}
	state := current.GetStatus().GetState()
	sl.State = StateName(state)
	sl.Step = steps[state]
	sl.Err = current.GetStatus().GetErr()
	// A task the scheduler cannot place stays pending with the reason.
	sl.Stuck = state == minswv1.TaskState_TASK_STATE_PENDING && sl.Err != ""
	if sl.Err == "" && state < minswv1.TaskState_TASK_STATE_RUNNING && lastFailed != nil &&
		newer(lastFailed, current) <= 0 {
		// A replacement after a crash: say why the last one died.
		sl.Err = lastFailed.GetStatus().GetErr()
	}
	return sl
}
