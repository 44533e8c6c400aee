package orchestrator

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/minsw/minsw/internal/clock"
	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

type harness struct {
	t     *testing.T
	st    *store.Store
	o     *Orchestrator
	clock *clock.Fake
	ids   int
}

func newHarness(t *testing.T, nodes ...string) *harness {
	h := &harness{t: t, st: store.New(nil, nil), clock: clock.NewFake(time.Unix(1_700_000_000, 0))}
	h.o = New(h.st, Config{Clock: h.clock, NewID: func() string { h.ids++; return fmt.Sprintf("task%03d", h.ids) }})
	for _, n := range nodes {
		h.update(func(tx *store.Tx) error {
			return tx.Create(&api.Node{Id: n, Meta: &api.Meta{}, Spec: &api.NodeSpec{}, Description: &api.NodeDescription{Hostname: n},
				Status: &api.NodeStatus{State: api.NodeState_NODE_STATE_READY}})
		})
	}
	return h
}

func (h *harness) update(fn func(tx *store.Tx) error) {
	h.t.Helper()
	if err := h.st.Update(context.Background(), fn); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) service(name string, mutate func(*api.ServiceSpec)) {
	spec := &api.ServiceSpec{Name: name, Task: &api.TaskSpec{Container: &api.ContainerSpec{Image: "whoami"}},
		Mode: &api.ServiceSpec_Replicated{Replicated: &api.ReplicatedService{Replicas: 1}}}
	if mutate != nil {
		mutate(spec)
	}
	h.update(func(tx *store.Tx) error {
		return tx.Create(&api.Service{Id: name, Meta: &api.Meta{}, Spec: spec, SpecVersion: 1})
	})
	h.reconcile()
}

func (h *harness) reconcile() { h.o.ReconcileAll(context.Background()) }

func (h *harness) tasks(svc string) []*api.Task {
	var out []*api.Task
	h.st.View(func(tx store.ReadTx) { out = tx.TasksByService(svc) })
	sort.Slice(out, func(i, j int) bool { return out[i].Id < out[j].Id })
	return out
}

// live returns "slot:desired" of the service's live tasks, sorted.
func (h *harness) live(svc string) []string {
	var out []string
	for _, t := range h.tasks(svc) {
		if isLive(t) {
			out = append(out, fmt.Sprintf("%d:%s@%s", t.Slot, t.DesiredState.String()[11:], t.NodeId))
		}
	}
	sort.Strings(out)
	return out
}

// report sets a task's observed state, as the dispatcher would.
func (h *harness) report(id string, s api.TaskState, node string) {
	h.update(func(tx *store.Tx) error {
		t := proto.Clone(tx.Task(id)).(*api.Task)
		t.Status = &api.TaskStatus{State: s}
		if node != "" {
			t.NodeId = node
		}
		return tx.Update(t)
	})
}

func (h *harness) setNode(id string, fn func(*api.Node)) {
	h.update(func(tx *store.Tx) error {
		n := proto.Clone(tx.Node(id)).(*api.Node)
		fn(n)
		return tx.Update(n)
	})
}

func eq(t *testing.T, got []string, want ...string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func replicas(n uint64) func(*api.ServiceSpec) {
	return func(s *api.ServiceSpec) {
		s.Mode = &api.ServiceSpec_Replicated{Replicated: &api.ReplicatedService{Replicas: n}}
	}
}

func TestTwoReplicasMakeTwoSlots(t *testing.T) {
	h := newHarness(t, "n1", "n2")
	h.service("web", replicas(2))
	eq(t, h.live("web"), "1:RUNNING@", "2:RUNNING@")
	h.reconcile()
	eq(t, h.live("web"), "1:RUNNING@", "2:RUNNING@") // idempotent
}

func TestScaleDownRemovesHighSlots(t *testing.T) {
	h := newHarness(t, "n1")
	h.service("web", replicas(3))
	h.update(func(tx *store.Tx) error {
		s := proto.Clone(tx.Service("web")).(*api.Service)
		s.Spec.Mode = &api.ServiceSpec_Replicated{Replicated: &api.ReplicatedService{Replicas: 1}}
		return tx.Update(s)
	})
	h.reconcile()
	eq(t, h.live("web"), "1:RUNNING@")
	// Tasks that never reached a node are deleted at once.
	if n := len(h.tasks("web")); n != 1 {
		t.Fatalf("%d tasks left, want 1", n)
	}
}

func TestFailedTaskRestartsAfterDelay(t *testing.T) {
	h := newHarness(t, "n1")
	h.service("web", func(s *api.ServiceSpec) {
		s.Task.Restart = &api.RestartPolicy{Delay: durationpb.New(3 * time.Second)}
	})
	first := h.tasks("web")[0].Id
	h.report(first, api.TaskState_TASK_STATE_FAILED, "n1")
	h.reconcile()
	eq(t, h.live("web"), "1:READY@")
	h.clock.Advance(2 * time.Second)
	eq(t, h.live("web"), "1:READY@")
	h.clock.Advance(time.Second)
	eq(t, h.live("web"), "1:RUNNING@")
}

func TestRestartConditions(t *testing.T) {
	cases := []struct {
		name    string
		cond    api.RestartCondition
		end     api.TaskState
		restart bool
	}{
		{"any restarts a completed task", api.RestartCondition_RESTART_CONDITION_ANY, api.TaskState_TASK_STATE_COMPLETE, true},
		{"on-failure leaves a completed task", api.RestartCondition_RESTART_CONDITION_ON_FAILURE, api.TaskState_TASK_STATE_COMPLETE, false},
		{"on-failure restarts a failed task", api.RestartCondition_RESTART_CONDITION_ON_FAILURE, api.TaskState_TASK_STATE_FAILED, true},
		{"none leaves a failed task", api.RestartCondition_RESTART_CONDITION_NONE, api.TaskState_TASK_STATE_FAILED, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, "n1")
			h.service("job", func(s *api.ServiceSpec) {
				s.Task.Restart = &api.RestartPolicy{Condition: c.cond, Delay: durationpb.New(0)}
			})
			h.report(h.tasks("job")[0].Id, c.end, "n1")
			h.reconcile()
			h.reconcile()
			got := len(h.live("job")) == 1
			if got != c.restart {
				t.Fatalf("restarted=%v, want %v (live %v)", got, c.restart, h.live("job"))
			}
		})
	}
}

func TestMaxAttemptsStopsRestarting(t *testing.T) {
	h := newHarness(t, "n1")
	h.service("crash", func(s *api.ServiceSpec) {
		s.Task.Restart = &api.RestartPolicy{MaxAttempts: 2, Delay: durationpb.New(0)}
	})
	for i := 0; i < 3; i++ {
		l := h.tasks("crash")
		h.report(l[len(l)-1].Id, api.TaskState_TASK_STATE_FAILED, "n1")
		h.reconcile()
	}
	eq(t, h.live("crash"))
	if n := len(h.tasks("crash")); n != 3 {
		t.Fatalf("%d tasks, want the first + 2 restarts", n)
	}
}

func TestTasksLeaveDrainedAndDownNodes(t *testing.T) {
	for _, c := range []struct {
		name string
		fn   func(*api.Node)
	}{
		{"drained", func(n *api.Node) { n.Spec.Availability = api.NodeAvailability_NODE_AVAILABILITY_DRAIN }},
		{"down", func(n *api.Node) { n.Status.State = api.NodeState_NODE_STATE_DOWN }},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, "n1", "n2")
			h.service("web", replicas(2))
			ts := h.tasks("web")
			h.report(ts[0].Id, api.TaskState_TASK_STATE_RUNNING, "n1")
			h.report(ts[1].Id, api.TaskState_TASK_STATE_RUNNING, "n2")
			h.setNode("n1", c.fn)
			h.reconcile()
			// Slot 1 gets a fresh, unplaced task; slot 2 stays on n2.
			eq(t, h.live("web"), "1:RUNNING@", "2:RUNNING@n2")
			for _, tk := range h.tasks("web") {
				if tk.Id == ts[0].Id && tk.DesiredState != api.TaskState_TASK_STATE_SHUTDOWN {
					t.Fatalf("task on %s node left with desired %v", c.name, tk.DesiredState)
				}
			}
		})
	}
}

func TestGlobalOneTaskPerEligibleNode(t *testing.T) {
	h := newHarness(t, "n1", "n2", "n3")
	h.setNode("n3", func(n *api.Node) { n.Spec.Availability = api.NodeAvailability_NODE_AVAILABILITY_DRAIN })
	h.service("agent", func(s *api.ServiceSpec) { s.Mode = &api.ServiceSpec_Global{Global: &api.GlobalService{}} })
	eq(t, h.live("agent"), "0:RUNNING@n1", "0:RUNNING@n2")
	h.setNode("n3", func(n *api.Node) { n.Spec.Availability = api.NodeAvailability_NODE_AVAILABILITY_ACTIVE })
	h.reconcile()
	eq(t, h.live("agent"), "0:RUNNING@n1", "0:RUNNING@n2", "0:RUNNING@n3")
	h.setNode("n1", func(n *api.Node) { n.Status.State = api.NodeState_NODE_STATE_DOWN })
	h.reconcile()
	eq(t, h.live("agent"), "0:RUNNING@n2", "0:RUNNING@n3")
}

func TestGlobalConstraintLimitsNodes(t *testing.T) {
	h := newHarness(t, "n1", "n2")
	h.service("agent", func(s *api.ServiceSpec) {
		s.Mode = &api.ServiceSpec_Global{Global: &api.GlobalService{}}
		s.Task.Placement = &api.Placement{Constraints: []string{"node.hostname==n2"}}
	})
	eq(t, h.live("agent"), "0:RUNNING@n2")
}

func TestHistoryLimitKeepsFiveTasksPerSlot(t *testing.T) {
	h := newHarness(t, "n1")
	h.service("crash", func(s *api.ServiceSpec) { s.Task.Restart = &api.RestartPolicy{Delay: durationpb.New(0)} })
	for i := 0; i < 8; i++ {
		l := h.tasks("crash")
		for _, tk := range l {
			if isLive(tk) {
				h.report(tk.Id, api.TaskState_TASK_STATE_FAILED, "n1")
			}
		}
		h.reconcile()
	}
	if n := len(h.tasks("crash")); n != DefaultTaskHistoryLimit {
		t.Fatalf("slot holds %d tasks, want %d", n, DefaultTaskHistoryLimit)
	}
	eq(t, h.live("crash"), "1:RUNNING@")
}

func TestRemovedServiceTakesItsTasks(t *testing.T) {
	h := newHarness(t, "n1")
	h.service("web", replicas(2))
	ts := h.tasks("web")
	h.report(ts[0].Id, api.TaskState_TASK_STATE_RUNNING, "n1")
	h.update(func(tx *store.Tx) error { return tx.Delete(tx.Service("web")) })
	h.reconcile()
	// The unassigned task goes at once; the running one once stopped.
	l := h.tasks("web")
	if len(l) != 1 || l[0].DesiredState != api.TaskState_TASK_STATE_REMOVE {
		t.Fatalf("after removal: %v", l)
	}
	h.report(l[0].Id, api.TaskState_TASK_STATE_SHUTDOWN, "")
	h.reconcile()
	if len(h.tasks("web")) != 0 {
		t.Fatal("stopped task of a removed service not deleted")
	}
}

// A task that cannot be prepared (no such image) is rejected at once, also
// while it waits out its restart delay: the slot still gets one new task
// per delay, never a storm.
func TestRejectedTaskRestartsAtTheDelay(t *testing.T) {
	h := newHarness(t, "n1")
	h.service("nope", replicas(2))
	rejectLive := func() {
		for _, tk := range h.tasks("nope") {
			if isLive(tk) && !isTerminal(tk.Status.GetState()) {
				h.update(func(tx *store.Tx) error {
					nt := proto.Clone(tx.Task(tk.Id)).(*api.Task)
					nt.NodeId = "n1"
					nt.Status = &api.TaskStatus{State: api.TaskState_TASK_STATE_REJECTED, Err: "No such image: nope:latest"}
					return tx.Update(nt)
				})
			}
		}
		h.reconcile()
		h.reconcile()
	}
	rejectLive()
	if n := len(h.tasks("nope")); n != 4 {
		t.Fatalf("%d tasks after the first rejections, want 2 + 2 replacements", n)
	}
	// The replacements are rejected during their delay: nothing new yet.
	for i := 0; i < 3; i++ {
		rejectLive()
		h.clock.Advance(time.Second)
	}
	if n := len(h.tasks("nope")); n != 4 {
		t.Fatalf("%d tasks within the 5 s delay, want 4", n)
	}
	// Over a minute: one task per slot per delay (12 a minute), no more.
	for i := 0; i < 60; i++ {
		h.clock.Advance(time.Second)
		rejectLive()
	}
	perSlot := map[uint64]int{}
	live := map[uint64]int{}
	h.st.View(func(tx store.ReadTx) {
		for _, tk := range tx.TasksByService("nope") {
			perSlot[tk.Slot]++
			if isLive(tk) {
				live[tk.Slot]++
			}
		}
	})
	for slot, n := range live {
		if n != 1 {
			t.Fatalf("slot %d has %d live tasks, want 1", slot, n)
		}
	}
	if got := h.o.restartsOf("nope/1"); got < 11 || got > 13 {
		t.Fatalf("slot 1 restarted %d times in 63 s, want one per 5 s delay", got)
	}
	for _, tk := range h.tasks("nope") {
		if tk.Status.GetState() == api.TaskState_TASK_STATE_REJECTED && tk.Status.GetErr() != "No such image: nope:latest" {
			t.Fatalf("error lost: %q", tk.Status.GetErr())
		}
	}
}

func TestRejectedTaskHonoursMaxAttempts(t *testing.T) {
	h := newHarness(t, "n1")
	h.service("nope", func(s *api.ServiceSpec) {
		s.Task.Restart = &api.RestartPolicy{MaxAttempts: 3, Delay: durationpb.New(2 * time.Second)}
	})
	for i := 0; i < 20; i++ {
		for _, tk := range h.tasks("nope") {
			if isLive(tk) && !isTerminal(tk.Status.GetState()) {
				h.report(tk.Id, api.TaskState_TASK_STATE_REJECTED, "n1")
			}
		}
		h.reconcile()
		h.clock.Advance(time.Second)
	}
	if n := len(h.tasks("nope")); n != 4 {
		t.Fatalf("%d tasks, want the first + 3 restarts", n)
	}
	eq(t, h.live("nope"))
}

// restartsOf is how many restarts a slot key has had (for tests).
func (o *Orchestrator) restartsOf(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.restarts[key])
}

// racingProposer applies writes to its store as raft would, except that it
// refuses the next `lose` writes as lost races (the task's own status report
// landed first).
type racingProposer struct {
	st   *store.Store
	idx  uint64
	lose int
}

func (p *racingProposer) Propose(_ context.Context, cmd *api.RaftCommand) error {
	if p.lose > 0 {
		p.lose--
		return errdefs.Conflict("task changed meanwhile")
	}
	p.idx++
	return p.st.Apply(p.idx, cmd)
}

// A delayed start whose write loses a race with the task's own status
// report is tried again: the task still starts, and never waits for good.
func TestADelayedStartThatLosesARaceStillStarts(t *testing.T) {
	h := newHarness(t, "n1")
	rp := &racingProposer{st: h.st}
	h.st.SetProposer(rp)
	h.service("web", func(s *api.ServiceSpec) {
		s.Task.Restart = &api.RestartPolicy{Delay: durationpb.New(3 * time.Second)}
	})
	h.report(h.tasks("web")[0].Id, api.TaskState_TASK_STATE_FAILED, "n1")
	h.reconcile()
	eq(t, h.live("web"), "1:READY@")
	rp.lose = 7 // more than one attempt's worth: the start is re-armed
	h.clock.Advance(3 * time.Second)
	eq(t, h.live("web"), "1:READY@")
	h.clock.Advance(time.Second)
	eq(t, h.live("web"), "1:RUNNING@")
}
