package update

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

var t0 = time.Unix(1_700_000_000, 0)

// world builds a service and its tasks for Decide.
type world struct {
	svc   *api.Service
	tasks []*api.Task
	since map[string]time.Time
	down  map[string]bool // nodes that are down
	n     int
}

func spec(image string, u *api.UpdateConfig) *api.ServiceSpec {
	return &api.ServiceSpec{Name: "web", Task: &api.TaskSpec{Container: &api.ContainerSpec{Image: image}},
		Mode: &api.ServiceSpec_Replicated{Replicated: &api.ReplicatedService{Replicas: 4}}, Update: u}
}

// newWorld has 4 slots running v1 (image web:1) and the service now at v2.
func newWorld(u *api.UpdateConfig) *world {
	w := &world{since: map[string]time.Time{}}
	v1 := spec("web:1", u)
	w.svc = &api.Service{Id: "svc", Spec: spec("web:2", u), PreviousSpec: v1, SpecVersion: 2}
	for slot := uint64(1); slot <= 4; slot++ {
		w.add("old", slot, 1, v1.Task, api.TaskState_TASK_STATE_RUNNING, t0.Add(-time.Hour))
	}
	return w
}

func (w *world) add(prefix string, slot, version uint64, ts *api.TaskSpec, state api.TaskState, at time.Time) *api.Task {
	w.n++
	t := &api.Task{Id: fmt.Sprintf("%s%d", prefix, slot), ServiceId: "svc", Slot: slot, SpecVersion: version,
		Spec: proto.Clone(ts).(*api.TaskSpec), DesiredState: api.TaskState_TASK_STATE_RUNNING,
		Meta:   &api.Meta{CreatedAt: timestamppb.New(at.Add(time.Duration(w.n) * time.Millisecond))},
		Status: &api.TaskStatus{State: state, Timestamp: timestamppb.New(at)}}
	if _, dup := w.find(t.Id); dup {
		t.Id = fmt.Sprintf("%s%d.%d", prefix, slot, w.n)
	}
	if state == api.TaskState_TASK_STATE_RUNNING {
		w.since[t.Id] = at
	}
	w.tasks = append(w.tasks, t)
	return t
}

func (w *world) find(id string) (*api.Task, bool) {
	for _, t := range w.tasks {
		if t.Id == id {
			return t, true
		}
	}
	return nil, false
}

// newTask puts a v2 task in slot, in state, since at.
func (w *world) newTask(slot uint64, state api.TaskState, at time.Time) *api.Task {
	return w.add("new", slot, w.svc.SpecVersion, w.svc.Spec.Task, state, at)
}

// retire marks the old task of slot desired shutdown and shut down.
func (w *world) retire(slot uint64) {
	for _, t := range w.tasks {
		if t.Slot == slot && t.SpecVersion != w.svc.SpecVersion {
			t.DesiredState = api.TaskState_TASK_STATE_SHUTDOWN
			t.Status.State = api.TaskState_TASK_STATE_SHUTDOWN
		}
	}
}

// stopping marks the old task of slot told to stop, on node-a, still
// running.
func stopping(w *world, slot uint64) {
	for _, t := range w.tasks {
		if t.Slot == slot && t.SpecVersion != w.svc.SpecVersion {
			t.DesiredState = api.TaskState_TASK_STATE_SHUTDOWN
			t.NodeId = "node-a"
		}
	}
}

// heldTask adds slot's new task, prepared and held at ready for the old one.
func heldTask(w *world, slot uint64) {
	t := w.newTask(slot, api.TaskState_TASK_STATE_READY, t0)
	t.DesiredState = api.TaskState_TASK_STATE_READY
	t.StartAfterStop = []string{fmt.Sprintf("old%d", slot)}
}

// restartedHeld has slot 1's held task rejected after the old one has
// stopped, and the orchestrator's restart of it, held in its stead.
func restartedHeld(w *world) {
	w.status(api.UpdateState_UPDATE_STATE_UPDATING, t0)
	w.retire(1)
	heldTask(w, 1)
	r := w.tasks[len(w.tasks)-1]
	r.DesiredState, r.Status.State = api.TaskState_TASK_STATE_SHUTDOWN, api.TaskState_TASK_STATE_REJECTED
	r.Meta.CreatedAt = timestamppb.New(t0.Add(-time.Second))
	heldTask(w, 1)
	w.tasks[len(w.tasks)-1].Meta.CreatedAt = timestamppb.New(t0)
}

func (w *world) status(state api.UpdateState, started time.Time) {
	w.svc.UpdateStatus = &api.UpdateStatus{State: state, SpecVersion: w.svc.SpecVersion, StartedAt: timestamppb.New(started)}
}

func (w *world) decide(now time.Time) Plan {
	return Decide(Input{Service: w.svc, Tasks: w.tasks, Now: now, RunningSince: w.since,
		NodeDown: func(id string) bool { return w.down[id] }})
}

// summary renders a plan as one line a test can compare.
func summary(p Plan) string {
	var parts []string
	if p.Status != nil {
		s := strings.ToLower(strings.TrimPrefix(p.Status.State.String(), "UPDATE_STATE_"))
		if p.Status.Message != "" && p.Status.Message != MsgInProgress {
			s += " (" + p.Status.Message + ")"
		}
		parts = append(parts, "status "+s)
	}
	if p.Rollback {
		parts = append(parts, "rollback")
	}
	if len(p.Adopt) > 0 {
		a := append([]string(nil), p.Adopt...)
		sort.Strings(a)
		parts = append(parts, "adopt "+strings.Join(a, ","))
	}
	if len(p.Shutdown) > 0 {
		s := append([]string(nil), p.Shutdown...)
		sort.Strings(s)
		parts = append(parts, "stop "+strings.Join(s, ","))
	}
	if len(p.Start) > 0 {
		var s []string
		for _, sl := range p.Start {
			one := fmt.Sprint(sl.Slot)
			if w := p.Hold[sl]; len(w) > 0 {
				one += " after " + strings.Join(w, "+")
			}
			s = append(s, one)
		}
		parts = append(parts, "start "+strings.Join(s, ","))
	}
	if len(p.Release) > 0 {
		parts = append(parts, "release "+strings.Join(p.Release, ","))
	}
	if !p.Wake.IsZero() {
		parts = append(parts, fmt.Sprintf("wake +%s", p.Wake.Sub(t0)))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, "; ")
}

func cfg(fn func(*api.UpdateConfig)) *api.UpdateConfig {
	c := &api.UpdateConfig{Parallelism: 1, Monitor: durationpb.New(5 * time.Second)}
	if fn != nil {
		fn(c)
	}
	return c
}

func TestDecide(t *testing.T) {
	running := api.TaskState_TASK_STATE_RUNNING
	cases := []struct {
		name  string
		setup func(w *world)
		cfg   *api.UpdateConfig
		now   time.Duration
		want  string
	}{
		{
			name: "a new spec starts an update: stop-first replaces slot 1",
			want: "status updating; stop old1; start 1 after old1",
		},
		{
			name: "an unset update config is Swarm's default: one at a time",
			cfg:  nil,
			want: "status updating; stop old1; start 1 after old1",
		},
		{
			name: "parallelism 0 replaces every slot at once",
			cfg:  cfg(func(c *api.UpdateConfig) { c.Parallelism = 0 }),
			want: "status updating; stop old1,old2,old3,old4; start 1 after old1,2 after old2,3 after old3,4 after old4",
		},
		{
			name: "parallelism 2 replaces two slots",
			cfg:  cfg(func(c *api.UpdateConfig) { c.Parallelism = 2 }),
			want: "status updating; stop old1,old2; start 1 after old1,2 after old2",
		},
		{
			name: "a new service's first tasks starting are no update (no UpdateStatus, as Swarm's)",
			setup: func(w *world) {
				w.svc.PreviousSpec, w.svc.SpecVersion, w.tasks = nil, 1, nil
				for slot := uint64(1); slot <= 4; slot++ {
					w.newTask(slot, api.TaskState_TASK_STATE_STARTING, t0)
				}
			},
			want: "nothing",
		},
		{
			name: "a scale-up's new tasks starting are no update either",
			setup: func(w *world) {
				w.svc.Spec, w.svc.PreviousSpec, w.svc.SpecVersion = w.svc.PreviousSpec, nil, 1
				w.newTask(5, api.TaskState_TASK_STATE_STARTING, t0)
			},
			want: "nothing",
		},
		{
			name: "nothing more while the new task is not running",
			setup: func(w *world) {
				w.status(api.UpdateState_UPDATE_STATE_UPDATING, t0)
				w.retire(1)
				w.newTask(1, api.TaskState_TASK_STATE_STARTING, t0)
			},
			want: "nothing",
		},
		{
			name: "the next slot once the new task runs",
			setup: func(w *world) {
				w.status(api.UpdateState_UPDATE_STATE_UPDATING, t0)
				w.retire(1)
				w.newTask(1, running, t0.Add(time.Second))
			},
			now:  2 * time.Second,
			want: "stop old2; start 2 after old2",
		},
		{
			name: "delay holds the next slot, and says when to look again",
			cfg:  cfg(func(c *api.UpdateConfig) { c.Delay = durationpb.New(10 * time.Second) }),
			setup: func(w *world) {
				w.status(api.UpdateState_UPDATE_STATE_UPDATING, t0)
				w.retire(1)
				w.newTask(1, running, t0.Add(time.Second))
			},
			now:  3 * time.Second,
			want: "wake +11s",
		},
		{
			name: "stop-first: the new task waits at ready while the old one stops",
			setup: func(w *world) {
				w.status(api.UpdateState_UPDATE_STATE_UPDATING, t0)
				stopping(w, 1)
				heldTask(w, 1)
			},
			want: "nothing",
		},
		{
			name: "stop-first: the new task starts once the old one has stopped",
			setup: func(w *world) {
				w.status(api.UpdateState_UPDATE_STATE_UPDATING, t0)
				w.retire(1)
				heldTask(w, 1)
			},
			want: "release new1",
		},
		{
			name: "stop-first: a held task's restart waits out the restart delay once the old one has stopped",
			cfg: cfg(func(c *api.UpdateConfig) {
				c.FailureAction = api.UpdateFailureAction_UPDATE_FAILURE_ACTION_CONTINUE
			}),
			setup: restartedHeld,
			now:   time.Second,
			want:  "wake +5s",
		},
		{
			name: "stop-first: a held task's restart starts when the restart delay is over",
			cfg: cfg(func(c *api.UpdateConfig) {
				c.FailureAction = api.UpdateFailureAction_UPDATE_FAILURE_ACTION_CONTINUE
			}),
			setup: restartedHeld,
			now:   5 * time.Second,
			want:  "release new1.6",
		},
		{
			name: "stop-first: an old task that never reached a node holds nothing back",
			setup: func(w *world) {
				w.status(api.UpdateState_UPDATE_STATE_UPDATING, t0)
				stopping(w, 1)
				for _, t := range w.tasks {
					if t.Id == "old1" {
						t.NodeId, t.Status.State = "", api.TaskState_TASK_STATE_NEW
					}
				}
				heldTask(w, 1)
			},
			want: "release new1",
		},
		{
			name: "stop-first: an old task on a node that is down never says it stopped",
			setup: func(w *world) {
				w.status(api.UpdateState_UPDATE_STATE_UPDATING, t0)
				stopping(w, 1)
				w.down = map[string]bool{"node-a": true}
				heldTask(w, 1)
			},
			want: "release new1",
		},
		{
			name: "start-first starts the new task beside the old one",
			cfg:  cfg(func(c *api.UpdateConfig) { c.Order = api.UpdateOrder_UPDATE_ORDER_START_FIRST }),
			want: "status updating; start 1",
		},
		{
			name: "start-first stops the old task once the new one runs",
			cfg:  cfg(func(c *api.UpdateConfig) { c.Order = api.UpdateOrder_UPDATE_ORDER_START_FIRST }),
			setup: func(w *world) {
				w.status(api.UpdateState_UPDATE_STATE_UPDATING, t0)
				w.newTask(1, running, t0.Add(time.Second))
			},
			now:  time.Second,
			want: "stop old1; start 2",
		},
		{
			name: "start-first keeps the old task while the new one runs but its health check is starting",
			cfg:  cfg(func(c *api.UpdateConfig) { c.Order = api.UpdateOrder_UPDATE_ORDER_START_FIRST }),
			setup: func(w *world) {
				w.status(api.UpdateState_UPDATE_STATE_UPDATING, t0)
				w.newTask(1, running, t0).Status.Health = api.HealthState_HEALTH_STATE_STARTING
			},
			now:  time.Second,
			want: "nothing",
		},
		{
			name: "start-first keeps the old task while the new one runs unhealthy",
			cfg:  cfg(func(c *api.UpdateConfig) { c.Order = api.UpdateOrder_UPDATE_ORDER_START_FIRST }),
			setup: func(w *world) {
				w.status(api.UpdateState_UPDATE_STATE_UPDATING, t0)
				w.newTask(1, running, t0).Status.Health = api.HealthState_HEALTH_STATE_UNHEALTHY
			},
			now:  time.Second,
			want: "nothing",
		},
		{
			name: "start-first stops the old task once the new one runs healthy",
			cfg:  cfg(func(c *api.UpdateConfig) { c.Order = api.UpdateOrder_UPDATE_ORDER_START_FIRST }),
			setup: func(w *world) {
				w.status(api.UpdateState_UPDATE_STATE_UPDATING, t0)
				w.newTask(1, running, t0.Add(time.Second)).Status.Health = api.HealthState_HEALTH_STATE_HEALTHY
			},
			now:  time.Second,
			want: "stop old1; start 2",
		},
		{
			name: "start-first keeps the old task while the new one starts",
			cfg:  cfg(func(c *api.UpdateConfig) { c.Order = api.UpdateOrder_UPDATE_ORDER_START_FIRST }),
			setup: func(w *world) {
				w.status(api.UpdateState_UPDATE_STATE_UPDATING, t0)
				w.newTask(1, api.TaskState_TASK_STATE_PREPARING, t0)
			},
			want: "nothing",
		},
		{
			name: "a failed new task pauses the update (failure action pause)",
			setup: func(w *world) {
				w.status(api.UpdateState_UPDATE_STATE_UPDATING, t0)
				w.retire(1)
				w.newTask(1, api.TaskState_TASK_STATE_FAILED, t0)
			},
			want: "status paused (update paused due to failure or early termination of task new1)",
		},
		{
			name: "a rejected new task (no such image) counts as a failure",
			setup: func(w *world) {
				w.status(api.UpdateState_UPDATE_STATE_UPDATING, t0)
				w.retire(1)
				w.newTask(1, api.TaskState_TASK_STATE_REJECTED, t0)
			},
			want: "status paused (update paused due to failure or early termination of task new1)",
		},
		{
			name: "failure action rollback restores the previous spec",
			cfg:  cfg(func(c *api.UpdateConfig) { c.FailureAction = api.UpdateFailureAction_UPDATE_FAILURE_ACTION_ROLLBACK }),
			setup: func(w *world) {
				w.status(api.UpdateState_UPDATE_STATE_UPDATING, t0)
				w.retire(1)
				w.newTask(1, api.TaskState_TASK_STATE_FAILED, t0)
			},
			want: "status rollback_started (update rolled back due to failure or early termination of task new1); rollback",
		},
		{
			name: "failure action continue carries on",
			cfg:  cfg(func(c *api.UpdateConfig) { c.FailureAction = api.UpdateFailureAction_UPDATE_FAILURE_ACTION_CONTINUE }),
			setup: func(w *world) {
				w.status(api.UpdateState_UPDATE_STATE_UPDATING, t0)
				w.retire(1)
				w.newTask(1, api.TaskState_TASK_STATE_FAILED, t0)
				w.newTask(1, running, t0.Add(time.Second))
			},
			now:  2 * time.Second,
			want: "stop old2; start 2 after old2",
		},
		{
			name: "max failure ratio 0.25 tolerates one failure in four slots",
			cfg:  cfg(func(c *api.UpdateConfig) { c.MaxFailureRatio = 0.25 }),
			setup: func(w *world) {
				w.status(api.UpdateState_UPDATE_STATE_UPDATING, t0)
				w.retire(1)
				w.newTask(1, api.TaskState_TASK_STATE_FAILED, t0)
				w.newTask(1, running, t0.Add(time.Second))
			},
			now:  2 * time.Second,
			want: "stop old2; start 2 after old2",
		},
		{
			name: "max failure ratio 0.25 pauses at the second failure",
			cfg:  cfg(func(c *api.UpdateConfig) { c.MaxFailureRatio = 0.25 }),
			setup: func(w *world) {
				w.status(api.UpdateState_UPDATE_STATE_UPDATING, t0)
				w.retire(1)
				w.retire(2)
				w.newTask(1, api.TaskState_TASK_STATE_FAILED, t0)
				w.newTask(2, api.TaskState_TASK_STATE_FAILED, t0)
			},
			want: "status paused (update paused due to failure or early termination of task new2)",
		},
		{
			name: "a task failing after its monitor window is not the update's fault",
			setup: func(w *world) {
				w.status(api.UpdateState_UPDATE_STATE_UPDATING, t0)
				w.retire(1)
				tk := w.newTask(1, api.TaskState_TASK_STATE_FAILED, t0.Add(20*time.Second))
				w.since[tk.Id] = t0
				w.newTask(1, running, t0.Add(21*time.Second))
			},
			now:  22 * time.Second,
			want: "stop old2; start 2 after old2",
		},
		{
			name: "done: every slot new and the monitor window passed",
			setup: func(w *world) {
				w.status(api.UpdateState_UPDATE_STATE_UPDATING, t0)
				for s := uint64(1); s <= 4; s++ {
					w.retire(s)
					w.newTask(s, running, t0.Add(time.Duration(s)*time.Second))
				}
			},
			now:  9 * time.Second,
			want: "status completed (update completed)",
		},
		{
			name: "not done while the last task is still watched",
			setup: func(w *world) {
				w.status(api.UpdateState_UPDATE_STATE_UPDATING, t0)
				for s := uint64(1); s <= 4; s++ {
					w.retire(s)
					w.newTask(s, running, t0.Add(time.Duration(s)*time.Second))
				}
			},
			now:  6 * time.Second,
			want: "wake +9s",
		},
		{
			name: "a paused update starts nothing",
			setup: func(w *world) {
				w.status(api.UpdateState_UPDATE_STATE_PAUSED, t0)
				w.retire(1)
				w.newTask(1, api.TaskState_TASK_STATE_FAILED, t0)
			},
			want: "nothing",
		},
		{
			name: "a rollback adopts the tasks already on the restored spec",
			setup: func(w *world) {
				// web:2 went bad in slot 1; the service is back on web:1 as v3.
				w.retire(1)
				w.newTask(1, api.TaskState_TASK_STATE_FAILED, t0)
				w.svc.Spec, w.svc.PreviousSpec = w.svc.PreviousSpec, w.svc.Spec
				w.svc.SpecVersion = 3
				w.status(api.UpdateState_UPDATE_STATE_ROLLBACK_STARTED, t0)
			},
			want: "adopt old2,old3,old4",
		},
		{
			name: "a rollback replaces the slots the update changed",
			setup: func(w *world) {
				w.retire(1)
				w.newTask(1, running, t0)
				w.svc.Spec, w.svc.PreviousSpec = w.svc.PreviousSpec, w.svc.Spec
				w.svc.SpecVersion = 3
				w.status(api.UpdateState_UPDATE_STATE_ROLLBACK_STARTED, t0)
			},
			want: "adopt old2,old3,old4; stop new1; start 1 after new1",
		},
		{
			name: "a failing rollback pauses",
			setup: func(w *world) {
				w.svc.Spec, w.svc.PreviousSpec = w.svc.PreviousSpec, w.svc.Spec
				w.svc.SpecVersion = 3
				w.status(api.UpdateState_UPDATE_STATE_ROLLBACK_STARTED, t0)
				w.retire(1)
				w.newTask(1, api.TaskState_TASK_STATE_FAILED, t0)
			},
			want: "status rollback_paused (rollback paused due to failure or early termination of task new1); adopt old2,old3,old4",
		},
		{
			name: "a rollback completes as such",
			setup: func(w *world) {
				w.svc.Spec, w.svc.PreviousSpec = w.svc.PreviousSpec, w.svc.Spec
				w.svc.SpecVersion = 3
				w.status(api.UpdateState_UPDATE_STATE_ROLLBACK_STARTED, t0)
				for _, tk := range w.tasks {
					tk.SpecVersion = 3
				}
			},
			now:  time.Hour,
			want: "status rollback_completed (rollback completed)",
		},
		{
			name: "a newer spec supersedes an update in flight",
			setup: func(w *world) {
				w.status(api.UpdateState_UPDATE_STATE_UPDATING, t0)
				w.retire(1)
				w.newTask(1, api.TaskState_TASK_STATE_STARTING, t0)
				w.svc.Spec.Task.Container.Image = "web:3"
				w.svc.SpecVersion = 3
			},
			now:  time.Second,
			want: "status updating; stop new1; start 1 after new1",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := c.cfg
			if c.cfg == nil && !strings.Contains(c.name, "unset") {
				u = cfg(nil)
			}
			w := newWorld(u)
			if c.setup != nil {
				c.setup(w)
			}
			if got := summary(w.decide(t0.Add(c.now))); got != c.want {
				t.Fatalf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	d := ConfigOf(nil)
	if d.Parallelism != 1 || d.Monitor != 5*time.Second || d.FailureAction != api.UpdateFailureAction_UPDATE_FAILURE_ACTION_PAUSE || d.StartFirst {
		t.Fatalf("defaults %+v, want Swarm's", d)
	}
	c := ConfigOf(&api.UpdateConfig{Parallelism: 0, Monitor: durationpb.New(0)})
	if c.Parallelism != 0 || c.Monitor != 0 {
		t.Fatalf("explicit zero lost: %+v", c)
	}
}

func TestDecideGlobalUpdatesNodeByNode(t *testing.T) {
	u := cfg(nil)
	v1, v2 := spec("agent:1", u), spec("agent:2", u)
	v1.Mode, v2.Mode = &api.ServiceSpec_Global{Global: &api.GlobalService{}}, &api.ServiceSpec_Global{Global: &api.GlobalService{}}
	w := &world{since: map[string]time.Time{}}
	w.svc = &api.Service{Id: "svc", Spec: v2, PreviousSpec: v1, SpecVersion: 2}
	for _, n := range []string{"n1", "n2"} {
		tk := w.add("old-"+n+"-", 0, 1, v1.Task, api.TaskState_TASK_STATE_RUNNING, t0.Add(-time.Hour))
		tk.NodeId = n
	}
	p := w.decide(t0)
	if len(p.Start) != 1 || p.Start[0] != (Slot{Node: "n1"}) || len(p.Shutdown) != 1 || p.Shutdown[0] != "old-n1-0" {
		t.Fatalf("first step: %s (start %v)", summary(p), p.Start)
	}
	// n1 runs v2: n2 goes next.
	w.status(api.UpdateState_UPDATE_STATE_UPDATING, t0)
	w.tasks[0].DesiredState, w.tasks[0].Status.State = api.TaskState_TASK_STATE_SHUTDOWN, api.TaskState_TASK_STATE_SHUTDOWN
	nt := w.newTask(0, api.TaskState_TASK_STATE_RUNNING, t0.Add(time.Second))
	nt.NodeId = "n1"
	p = w.decide(t0.Add(2 * time.Second))
	if len(p.Start) != 1 || p.Start[0] != (Slot{Node: "n2"}) {
		t.Fatalf("second step: %s (start %v)", summary(p), p.Start)
	}
}
