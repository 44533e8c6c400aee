package update

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/minsw/minsw/internal/clock"
	"github.com/minsw/minsw/manager/orchestrator"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// cluster is a store with the orchestrator and the updater on a fake
// clock, and a make-believe agent that runs tasks at once: images named
// "bad" fail as soon as they start.
type cluster struct {
	t     *testing.T
	st    *store.Store
	clock *clock.Fake
	orch  *orchestrator.Orchestrator
	upd   *Updater
	ids   int
	// checked are images with a health check: their tasks run with their
	// check starting, and pass it at the agent's next round.
	checked map[string]bool
	// slowStop makes the agent as a node does: a held task is placed and
	// prepared (ready on n1), and a task told to stop takes stopRounds
	// agent rounds to stop.
	slowStop   bool
	stopRounds int
	stopSeen   map[string]int
}

func newCluster(t *testing.T) *cluster {
	c := &cluster{t: t, clock: clock.NewFake(t0)}
	c.st = store.New(nil, c.clock.Now)
	newID := func() string { c.ids++; return fmt.Sprintf("task%03d", c.ids) }
	c.orch = orchestrator.New(c.st, orchestrator.Config{Clock: c.clock, NewID: newID})
	c.upd = New(c.st, Config{Clock: c.clock, NewID: newID})
	c.write(func(tx *store.Tx) error {
		return tx.Create(&api.Node{Id: "n1", Meta: &api.Meta{}, Spec: &api.NodeSpec{}, Status: &api.NodeStatus{State: api.NodeState_NODE_STATE_READY}})
	})
	return c
}

func (c *cluster) write(fn func(tx *store.Tx) error) {
	c.t.Helper()
	if err := c.st.Update(context.Background(), fn); err != nil {
		c.t.Fatal(err)
	}
}

// tick runs one round: orchestrator, updater, agent; then time moves on.
func (c *cluster) tick(d time.Duration) {
	ctx := context.Background()
	c.orch.ReconcileAll(ctx)
	c.upd.Reconcile(ctx, "web")
	c.agent()
	c.orch.ReconcileAll(ctx)
	c.upd.Reconcile(ctx, "web")
	c.clock.Advance(d)
}

func (c *cluster) agent() {
	c.write(func(tx *store.Tx) error {
		for _, t := range tx.Tasks() {
			st := t.GetStatus().GetState()
			var next api.TaskState
			health := api.HealthState_HEALTH_STATE_NONE
			if c.checked[t.GetSpec().GetContainer().GetImage()] {
				health = api.HealthState_HEALTH_STATE_STARTING
			}
			switch {
			case st == api.TaskState_TASK_STATE_RUNNING && t.GetStatus().GetHealth() == api.HealthState_HEALTH_STATE_STARTING &&
				t.GetDesiredState() == api.TaskState_TASK_STATE_RUNNING:
				next, health = st, api.HealthState_HEALTH_STATE_HEALTHY
			case t.GetDesiredState() >= api.TaskState_TASK_STATE_SHUTDOWN && st < api.TaskState_TASK_STATE_COMPLETE:
				if t.GetNodeId() == "" {
					continue // never placed: no agent will ever report on it
				}
				if c.slowStop {
					if c.stopSeen[t.GetId()]++; c.stopSeen[t.GetId()] < c.stopRounds {
						continue
					}
				}
				next = api.TaskState_TASK_STATE_SHUTDOWN
			case c.slowStop && t.GetDesiredState() == api.TaskState_TASK_STATE_READY && st < api.TaskState_TASK_STATE_READY:
				next = api.TaskState_TASK_STATE_READY
			case t.GetDesiredState() == api.TaskState_TASK_STATE_RUNNING && st < api.TaskState_TASK_STATE_RUNNING:
				next = api.TaskState_TASK_STATE_RUNNING
				if t.GetSpec().GetContainer().GetImage() == "bad" {
					next = api.TaskState_TASK_STATE_FAILED
				}
			default:
				continue
			}
			nt := proto.Clone(t).(*api.Task)
			nt.NodeId = "n1"
			nt.Status = &api.TaskStatus{State: next, Timestamp: timestamppb.New(c.clock.Now())}
			if next == api.TaskState_TASK_STATE_RUNNING {
				nt.Status.Health = health
			}
			if err := tx.Update(nt); err != nil {
				return err
			}
		}
		return nil
	})
}

func (c *cluster) create(u *api.UpdateConfig) {
	c.write(func(tx *store.Tx) error {
		s := spec("web:1", u)
		s.Task.Restart = &api.RestartPolicy{Delay: durationpb.New(time.Second)}
		return tx.Create(&api.Service{Id: "web", Meta: &api.Meta{}, Spec: s, SpecVersion: 1})
	})
	for i := 0; i < 3; i++ {
		c.tick(time.Second)
	}
}

func (c *cluster) setImage(image string) {
	c.write(func(tx *store.Tx) error {
		s := proto.Clone(tx.Service("web")).(*api.Service)
		s.PreviousSpec = proto.Clone(s.Spec).(*api.ServiceSpec)
		s.Spec.Task.Container.Image = image
		s.SpecVersion++
		s.UpdateStatus = nil
		return tx.Update(s)
	})
}

func (c *cluster) service() *api.Service {
	var s *api.Service
	c.st.View(func(tx store.ReadTx) { s = tx.Service("web") })
	return s
}

// running counts live running tasks per image.
func (c *cluster) running() map[string]int {
	out := map[string]int{}
	c.st.View(func(tx store.ReadTx) {
		for _, t := range tx.TasksByService("web") {
			if t.GetStatus().GetState() == api.TaskState_TASK_STATE_RUNNING && t.GetDesiredState() == api.TaskState_TASK_STATE_RUNNING {
				out[t.GetSpec().GetContainer().GetImage()]++
			}
		}
	})
	return out
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func TestRollingUpdateKeepsServing(t *testing.T) {
	for _, c := range []struct {
		name    string
		order   api.UpdateOrder
		minLive int
	}{
		{"start-first never drops below 4 running", api.UpdateOrder_UPDATE_ORDER_START_FIRST, 4},
		{"stop-first with parallelism 1 keeps 3 running", api.UpdateOrder_UPDATE_ORDER_STOP_FIRST, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl := newCluster(t)
			cl.create(&api.UpdateConfig{Parallelism: 1, Monitor: durationpb.New(2 * time.Second), Order: c.order})
			if n := cl.running()["web:1"]; n != 4 {
				t.Fatalf("%d running before the update", n)
			}
			cl.setImage("web:2")
			for i := 0; i < 30 && cl.service().GetUpdateStatus().GetState() != api.UpdateState_UPDATE_STATE_COMPLETED; i++ {
				cl.tick(500 * time.Millisecond)
				if n := total(cl.running()); n < c.minLive {
					t.Fatalf("only %d tasks running mid-update: %v", n, cl.running())
				}
			}
			st := cl.service().GetUpdateStatus()
			if st.GetState() != api.UpdateState_UPDATE_STATE_COMPLETED || st.GetMessage() != MsgCompleted || st.GetCompletedAt() == nil {
				t.Fatalf("status %v", st)
			}
			if r := cl.running(); r["web:2"] != 4 || len(r) != 1 {
				t.Fatalf("after the update: %v", r)
			}
		})
	}
}

func TestBadUpdateRollsBackByItself(t *testing.T) {
	cl := newCluster(t)
	cl.create(&api.UpdateConfig{Parallelism: 1, Monitor: durationpb.New(5 * time.Second),
		FailureAction: api.UpdateFailureAction_UPDATE_FAILURE_ACTION_ROLLBACK})
	cl.setImage("bad")
	var sawRollback bool
	start := cl.clock.Now()
	for i := 0; i < 60 && cl.service().GetUpdateStatus().GetState() != api.UpdateState_UPDATE_STATE_ROLLBACK_COMPLETED; i++ {
		cl.tick(500 * time.Millisecond)
		if cl.service().GetUpdateStatus().GetState() == api.UpdateState_UPDATE_STATE_ROLLBACK_STARTED {
			sawRollback = true
		}
	}
	svc := cl.service()
	if !sawRollback || svc.GetUpdateStatus().GetState() != api.UpdateState_UPDATE_STATE_ROLLBACK_COMPLETED {
		t.Fatalf("status %v (saw rollback_started: %v)", svc.GetUpdateStatus(), sawRollback)
	}
	if img := svc.GetSpec().GetTask().GetContainer().GetImage(); img != "web:1" {
		t.Fatalf("spec after rollback has image %s", img)
	}
	if r := cl.running(); r["web:1"] != 4 || len(r) != 1 {
		t.Fatalf("after the rollback: %v", r)
	}
	t.Logf("bad update detected and rolled back in %s (fake clock)", cl.clock.Now().Sub(start))
}

func TestBadUpdatePauses(t *testing.T) {
	cl := newCluster(t)
	cl.create(&api.UpdateConfig{Parallelism: 1, Monitor: durationpb.New(5 * time.Second)})
	cl.setImage("bad")
	for i := 0; i < 20; i++ {
		cl.tick(500 * time.Millisecond)
	}
	st := cl.service().GetUpdateStatus()
	if st.GetState() != api.UpdateState_UPDATE_STATE_PAUSED {
		t.Fatalf("status %v", st)
	}
	// Only the first slot was touched: three old tasks still serve.
	if r := cl.running(); r["web:1"] != 3 {
		t.Fatalf("while paused: %v", r)
	}
	// A fixed spec resumes: a new update supersedes the paused one.
	cl.setImage("web:3")
	for i := 0; i < 40 && cl.service().GetUpdateStatus().GetState() != api.UpdateState_UPDATE_STATE_COMPLETED; i++ {
		cl.tick(500 * time.Millisecond)
	}
	if r := cl.running(); r["web:3"] != 4 {
		t.Fatalf("after the fix: %v (%v)", r, cl.service().GetUpdateStatus())
	}
}

// tasks returns the service's tasks.
func (c *cluster) tasks() []*api.Task {
	var ts []*api.Task
	c.st.View(func(tx store.ReadTx) { ts = tx.TasksByService("web") })
	return ts
}

func TestStopFirstStartsTheNewTaskOnlyOnceTheOldHasStopped(t *testing.T) {
	cl := newCluster(t)
	cl.create(&api.UpdateConfig{Parallelism: 2, Monitor: durationpb.New(time.Second)})
	cl.setImage("web:2")
	held := 0
	check := func() {
		ts := cl.tasks()
		for _, n := range ts {
			if n.GetSpecVersion() != 2 || n.GetDesiredState() != api.TaskState_TASK_STATE_READY {
				continue
			}
			held++
			if len(n.GetStartAfterStop()) != 1 {
				t.Fatalf("held task %s waits for %v", n.GetId(), n.GetStartAfterStop())
			}
		}
		for _, n := range ts {
			if n.GetSpecVersion() != 2 || n.GetDesiredState() != api.TaskState_TASK_STATE_RUNNING {
				continue
			}
			for _, o := range ts {
				if o.GetSlot() == n.GetSlot() && o.GetSpecVersion() == 1 && o.GetStatus().GetState() < api.TaskState_TASK_STATE_COMPLETE {
					t.Fatalf("slot %d: %s may run while %s is %v", n.GetSlot(), n.GetId(), o.GetId(), o.GetStatus().GetState())
				}
			}
		}
	}
	ctx := context.Background()
	for i := 0; i < 40 && cl.service().GetUpdateStatus().GetState() != api.UpdateState_UPDATE_STATE_COMPLETED; i++ {
		// One step at a time, checked after each write.
		cl.orch.ReconcileAll(ctx)
		cl.upd.Reconcile(ctx, "web")
		check()
		cl.agent()
		check()
		cl.clock.Advance(500 * time.Millisecond)
	}
	if st := cl.service().GetUpdateStatus().GetState(); st != api.UpdateState_UPDATE_STATE_COMPLETED {
		t.Fatalf("status %v", st)
	}
	if r := cl.running(); r["web:2"] != 4 || len(r) != 1 {
		t.Fatalf("after the update: %v", r)
	}
	if held == 0 {
		t.Fatal("no new task was ever held at ready")
	}
}

func TestNewLeaderGoesOnWithTheMonitorWindow(t *testing.T) {
	cl := newCluster(t)
	cl.create(&api.UpdateConfig{Parallelism: 0, Monitor: durationpb.New(10 * time.Second),
		Order: api.UpdateOrder_UPDATE_ORDER_START_FIRST})
	cl.setImage("web:2")
	for i := 0; i < 10 && cl.running()["web:2"] < 4; i++ {
		cl.tick(time.Second)
	}
	var last time.Time
	for _, n := range cl.tasks() {
		if n.GetSpecVersion() == 2 && n.GetStatus().GetState() == api.TaskState_TASK_STATE_RUNNING {
			if at := n.GetStatus().GetTimestamp().AsTime(); at.After(last) {
				last = at
			}
		}
	}
	if cl.running()["web:2"] != 4 || cl.service().GetUpdateStatus().GetState() != api.UpdateState_UPDATE_STATE_UPDATING {
		t.Fatalf("not mid-window: %v, %v", cl.running(), cl.service().GetUpdateStatus())
	}
	// A new leader 4 s into the window: its updater starts from the store.
	cl.clock.Advance(last.Add(4 * time.Second).Sub(cl.clock.Now()))
	cl.upd = New(cl.st, Config{Clock: cl.clock, NewID: cl.upd.cfg.NewID})
	cl.upd.takeOver()
	for i := 0; i < 20 && cl.service().GetUpdateStatus().GetState() == api.UpdateState_UPDATE_STATE_UPDATING; i++ {
		cl.tick(500 * time.Millisecond)
	}
	st := cl.service().GetUpdateStatus()
	if st.GetState() != api.UpdateState_UPDATE_STATE_COMPLETED {
		t.Fatalf("status %v", st)
	}
	// Done when the first leader's window ended (+10 s), not 10 s after
	// the new leader came (+14 s).
	if took := st.GetCompletedAt().AsTime().Sub(last); took < 10*time.Second || took > 11*time.Second {
		t.Fatalf("completed %v after the last task ran; want the 10 s window", took)
	}
}

func TestStartFirstStopsTheOldTaskOnlyOnceTheNewIsHealthy(t *testing.T) {
	cl := newCluster(t)
	cl.checked = map[string]bool{"web:2": true}
	cl.create(&api.UpdateConfig{Parallelism: 1, Monitor: durationpb.New(time.Second), Order: api.UpdateOrder_UPDATE_ORDER_START_FIRST})
	cl.setImage("web:2")
	sawStarting := false
	check := func() {
		ts := cl.tasks()
		for _, o := range ts {
			if o.GetSpecVersion() != 1 || o.GetDesiredState() < api.TaskState_TASK_STATE_SHUTDOWN {
				continue
			}
			// o was told to stop: its slot's new task must serve.
			ok := false
			for _, n := range ts {
				if n.GetSlot() == o.GetSlot() && n.GetSpecVersion() == 2 && n.GetDesiredState() == api.TaskState_TASK_STATE_RUNNING &&
					n.GetStatus().GetState() == api.TaskState_TASK_STATE_RUNNING &&
					n.GetStatus().GetHealth() == api.HealthState_HEALTH_STATE_HEALTHY {
					ok = true
				}
			}
			if !ok {
				t.Fatalf("slot %d: old task %s told to stop before its successor is running and healthy", o.GetSlot(), o.GetId())
			}
		}
		for _, n := range ts {
			if n.GetSpecVersion() == 2 && n.GetStatus().GetState() == api.TaskState_TASK_STATE_RUNNING &&
				n.GetStatus().GetHealth() == api.HealthState_HEALTH_STATE_STARTING {
				sawStarting = true
			}
		}
	}
	ctx := context.Background()
	for i := 0; i < 40 && cl.service().GetUpdateStatus().GetState() != api.UpdateState_UPDATE_STATE_COMPLETED; i++ {
		cl.orch.ReconcileAll(ctx)
		cl.upd.Reconcile(ctx, "web")
		check()
		cl.agent()
		check()
		cl.upd.Reconcile(ctx, "web")
		check()
		cl.clock.Advance(500 * time.Millisecond)
	}
	if st := cl.service().GetUpdateStatus().GetState(); st != api.UpdateState_UPDATE_STATE_COMPLETED {
		t.Fatalf("status %v", st)
	}
	if r := cl.running(); r["web:2"] != 4 || len(r) != 1 {
		t.Fatalf("after the update: %v", r)
	}
	if !sawStarting {
		t.Fatal("no new task was ever seen running with its check starting")
	}
}

func TestTaskMovedSeesHealth(t *testing.T) {
	run := func(h api.HealthState) *api.Task {
		return &api.Task{DesiredState: api.TaskState_TASK_STATE_RUNNING,
			Status: &api.TaskStatus{State: api.TaskState_TASK_STATE_RUNNING, Health: h}}
	}
	if !taskMoved(run(api.HealthState_HEALTH_STATE_STARTING), run(api.HealthState_HEALTH_STATE_HEALTHY)) {
		t.Fatal("a running task passing its health check must wake the updater")
	}
	if taskMoved(run(api.HealthState_HEALTH_STATE_HEALTHY), run(api.HealthState_HEALTH_STATE_HEALTHY)) {
		t.Fatal("an unchanged task woke the updater")
	}
}

// overlap names a stop-first slot where a task may start (desired running)
// while another task of the slot still runs its container.
func overlap(ts []*api.Task) string {
	for _, n := range ts {
		if n.GetDesiredState() != api.TaskState_TASK_STATE_RUNNING || n.GetStatus().GetState() >= api.TaskState_TASK_STATE_COMPLETE {
			continue
		}
		for _, o := range ts {
			st := o.GetStatus().GetState()
			if o.GetId() != n.GetId() && o.GetSlot() == n.GetSlot() &&
				(st == api.TaskState_TASK_STATE_STARTING || st == api.TaskState_TASK_STATE_RUNNING) {
				return fmt.Sprintf("slot %d: %s (v%d) may start while %s (v%d) is %v", n.GetSlot(), n.GetId(), n.GetSpecVersion(),
					o.GetId(), o.GetSpecVersion(), st)
			}
		}
	}
	return ""
}

func TestStopFirstNeverOverlapsASlot(t *testing.T) {
	for _, c := range []struct {
		name         string
		image        string
		leaderChange bool
		want         api.UpdateState
		wantImage    string
	}{
		{"a bad update rolled back (stop-first both ways)", "bad", false, api.UpdateState_UPDATE_STATE_ROLLBACK_COMPLETED, "web:1"},
		{"a new leader mid-update", "web:2", true, api.UpdateState_UPDATE_STATE_COMPLETED, "web:2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl := newCluster(t)
			cl.create(&api.UpdateConfig{Parallelism: 2, Monitor: durationpb.New(2 * time.Second),
				FailureAction: api.UpdateFailureAction_UPDATE_FAILURE_ACTION_ROLLBACK})
			cl.slowStop, cl.stopRounds, cl.stopSeen = true, 3, map[string]int{}
			cl.setImage(c.image)
			ctx := context.Background()
			check := func(step string) {
				if o := overlap(cl.tasks()); o != "" {
					t.Fatalf("after %s: %s", step, o)
				}
			}
			held := false
			for i := 0; i < 80 && cl.service().GetUpdateStatus().GetState() != c.want; i++ {
				cl.orch.ReconcileAll(ctx)
				check("the orchestrator")
				cl.upd.Reconcile(ctx, "web")
				check("the updater")
				cl.agent()
				check("the agent")
				for _, n := range cl.tasks() {
					if n.GetDesiredState() == api.TaskState_TASK_STATE_READY && len(n.GetStartAfterStop()) > 0 {
						held = true
					}
				}
				if c.leaderChange && i == 4 {
					// The leader's loops start again from the store.
					newID := cl.upd.cfg.NewID
					cl.orch = orchestrator.New(cl.st, orchestrator.Config{Clock: cl.clock, NewID: newID})
					cl.upd = New(cl.st, Config{Clock: cl.clock, NewID: newID})
					cl.upd.takeOver()
				}
				cl.clock.Advance(500 * time.Millisecond)
			}
			if st := cl.service().GetUpdateStatus().GetState(); st != c.want {
				t.Fatalf("status %v, want %v", st, c.want)
			}
			if r := cl.running(); r[c.wantImage] != 4 || len(r) != 1 {
				t.Fatalf("at the end: %v", r)
			}
			if !held {
				t.Fatal("no task was ever held for a stopping one")
			}
		})
	}
}
