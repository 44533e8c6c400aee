package progress

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

func service(replicas uint64) *minswv1.Service {
	return &minswv1.Service{
		Id:          "jozc1x1c1zpyjl9b5j5abzm0g",
		SpecVersion: 1,
		Spec: &minswv1.ServiceSpec{
			Name: "web",
			Task: &minswv1.TaskSpec{Container: &minswv1.ContainerSpec{Image: "containous/whoami"}},
			Mode: &minswv1.ServiceSpec_Replicated{Replicated: &minswv1.ReplicatedService{Replicas: replicas}},
		},
	}
}

func task(id string, slot uint64, state minswv1.TaskState, age time.Duration, err string) *minswv1.Task {
	desired := minswv1.TaskState_TASK_STATE_RUNNING
	if state > minswv1.TaskState_TASK_STATE_RUNNING {
		desired = minswv1.TaskState_TASK_STATE_SHUTDOWN
	}
	return &minswv1.Task{
		Id: id, ServiceId: "jozc1x1c1zpyjl9b5j5abzm0g", Slot: slot, SpecVersion: 1, NodeId: "n1",
		Meta:         &minswv1.Meta{CreatedAt: timestamppb.New(t0.Add(-age))},
		DesiredState: desired,
		Status:       &minswv1.TaskStatus{State: state, Err: err},
	}
}

const (
	running   = minswv1.TaskState_TASK_STATE_RUNNING
	pending   = minswv1.TaskState_TASK_STATE_PENDING
	preparing = minswv1.TaskState_TASK_STATE_PREPARING
	failed    = minswv1.TaskState_TASK_STATE_FAILED
)

func TestEvaluate(t *testing.T) {
	full := "[==================================================>]"
	for _, tc := range []struct {
		name      string
		svc       *minswv1.Service
		tasks     []*minswv1.Task
		lines     []string
		converged bool
		stuck     bool
	}{
		{
			name:  "two replicas running",
			svc:   service(2),
			tasks: []*minswv1.Task{task("a", 1, running, time.Minute, ""), task("b", 2, running, time.Minute, "")},
			lines: []string{
				"overall progress: 2 out of 2 tasks",
				"1/2: running   " + full,
				"2/2: running   " + full,
			},
			converged: true,
		},
		{
			name:  "one preparing, one not yet made",
			svc:   service(2),
			tasks: []*minswv1.Task{task("a", 1, preparing, time.Second, "")},
			lines: []string{
				"overall progress: 0 out of 2 tasks",
				"1/2: preparing [===============================>                   ]",
				"2/2:",
			},
		},
		{
			name: "crash loop shows the last exit",
			svc:  service(1),
			tasks: []*minswv1.Task{
				task("old", 1, failed, time.Minute, "task: non-zero exit (1)"),
				task("new", 1, pending, time.Second, ""),
			},
			lines: []string{"overall progress: 0 out of 1 tasks", "1/1: task: non-zero exit (1)"},
		},
		{
			name:  "no suitable node is stuck",
			svc:   service(1),
			tasks: []*minswv1.Task{task("a", 1, pending, time.Second, "no suitable node (scheduling constraints not satisfied on 3 nodes)")},
			lines: []string{"overall progress: 0 out of 1 tasks", "1/1: no suitable node (scheduling constraints not satisfied on 3 nodes)"},
			stuck: true,
		},
		{
			name:      "scaled to zero",
			svc:       service(0),
			lines:     []string{"overall progress: 0 out of 0 tasks"},
			converged: true,
		},
		{
			name: "old spec version ignored",
			svc: func() *minswv1.Service {
				s := service(1)
				s.SpecVersion = 2
				s.Spec.Task.Container.Image = "containous/whoami:v2"
				return s
			}(),
			tasks: []*minswv1.Task{task("a", 1, running, time.Minute, "")},
			lines: []string{"overall progress: 0 out of 1 tasks", "1/1:"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := Evaluate(tc.svc, tc.tasks, nil)
			got := View{Status: st}.Lines()
			if strings.Join(got, "\n") != strings.Join(tc.lines, "\n") {
				t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.lines, "\n"))
			}
			if st.Converged() != tc.converged {
				t.Errorf("converged = %v", st.Converged())
			}
			if (st.Stuck() != nil) != tc.stuck {
				t.Errorf("stuck = %q", st.Stuck())
			}
		})
	}
}

func TestEvaluateGlobal(t *testing.T) {
	svc := service(0)
	svc.Spec.Mode = &minswv1.ServiceSpec_Global{Global: &minswv1.GlobalService{}}
	a := task("a", 0, running, time.Minute, "")
	a.NodeId = "node1aaaaaaaaaaaaaaaaaaaa"
	b := task("b", 0, running, time.Minute, "")
	b.NodeId = "node2bbbbbbbbbbbbbbbbbbbb"
	down := &minswv1.Node{Id: b.NodeId, Status: &minswv1.NodeStatus{State: minswv1.NodeState_NODE_STATE_DOWN}}
	st := Evaluate(svc, []*minswv1.Task{a, b}, []*minswv1.Node{down})
	got := strings.Join(View{Status: st}.Lines(), "\n")
	want := "overall progress: 1 out of 1 tasks\nnode1aaaaaaa: running   [==================================================>]"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// fakeControl answers GetService/ListTasks/ListNodes from a script of polls.
type fakeControl struct {
	minswv1.ControlClient
	mu    sync.Mutex
	svc   *minswv1.Service
	polls [][]*minswv1.Task
	n     int
	clock *time.Time
	step  time.Duration
}

func (f *fakeControl) GetService(context.Context, *minswv1.GetServiceRequest, ...grpc.CallOption) (*minswv1.GetServiceResponse, error) {
	return &minswv1.GetServiceResponse{Service: f.svc}, nil
}

func (f *fakeControl) ListTasks(context.Context, *minswv1.ListTasksRequest, ...grpc.CallOption) (*minswv1.ListTasksResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := min(f.n, len(f.polls)-1)
	f.n++
	*f.clock = f.clock.Add(f.step)
	return &minswv1.ListTasksResponse{Tasks: f.polls[i]}, nil
}

func (f *fakeControl) ListNodes(context.Context, *minswv1.ListNodesRequest, ...grpc.CallOption) (*minswv1.ListNodesResponse, error) {
	return &minswv1.ListNodesResponse{}, nil
}

func TestWaitPlain(t *testing.T) {
	clock := t0
	f := &fakeControl{
		svc:   service(2),
		clock: &clock,
		step:  time.Second,
		polls: [][]*minswv1.Task{
			{},
			{task("a", 1, preparing, 0, ""), task("b", 2, pending, 0, "")},
			{task("a", 1, running, 0, ""), task("b", 2, running, 0, "")},
		},
	}
	var out strings.Builder
	opts := Options{Interval: time.Millisecond, Verify: 3 * time.Second, Stall: time.Hour, Now: func() time.Time { return clock }}
	if err := Wait(context.Background(), f, "web", &Plain{Out: &out}, opts); err != nil {
		t.Fatal(err)
	}
	want := "overall progress: 2 out of 2 tasks\n" +
		"1/2: running   [==================================================>]\n" +
		"2/2: running   [==================================================>]\n" +
		"verify: Service converged\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestWaitCannotConverge(t *testing.T) {
	clock := t0
	f := &fakeControl{
		svc: service(1), clock: &clock, step: time.Second,
		polls: [][]*minswv1.Task{{task("a", 1, pending, 0, "no suitable node (1 node not available for new tasks)")}},
	}
	var out strings.Builder
	opts := Options{Interval: time.Millisecond, Verify: time.Second, Stall: 3 * time.Second, Now: func() time.Time { return clock }}
	err := Wait(context.Background(), f, "web", &Plain{Out: &out}, opts)
	if !errors.Is(err, ErrCannotConverge) || !strings.Contains(err.Error(), "service web cannot converge: 1/1: no suitable node") {
		t.Fatalf("err = %v", err)
	}
	want := "1/1: no suitable node (1 node not available for new tasks)\n" +
		"overall progress: 0 out of 1 tasks\n" +
		"1/1: no suitable node (1 node not available for new tasks)\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestWaitInterrupted(t *testing.T) {
	clock := t0
	f := &fakeControl{svc: service(1), clock: &clock, polls: [][]*minswv1.Task{{task("a", 1, preparing, 0, "")}}}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var out strings.Builder
	opts := Options{Interval: time.Millisecond, Verify: time.Second, Stall: time.Hour, Now: func() time.Time { return clock }}
	if err := Wait(ctx, f, "web", &Plain{Out: &out}, opts); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func TestTerminalDisplay(t *testing.T) {
	clock := t0
	f := &fakeControl{
		svc: service(2), clock: &clock, step: time.Second,
		polls: [][]*minswv1.Task{
			{task("a", 1, preparing, 0, "")},
			{task("a", 1, running, 0, ""), task("b", 2, running, 0, "")},
		},
	}
	var out syncBuffer
	// The terminal redraws every 100 ms on its own: the countdown (a poll
	// each 120 ms, the clock a second further at each) stays up for five
	// polls, so a redraw late on a loaded machine still finds it.
	opts := Options{Interval: 120 * time.Millisecond, Verify: 5 * time.Second, Stall: time.Hour, Now: func() time.Time { return clock }}
	if err := Wait(context.Background(), f, "web", NewTerminal(&out), opts); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	// The last frame, after the last cursor movement, is the seed's.
	last := got[strings.LastIndex(got, "\x1b[J")+3:]
	want := "overall progress: 2 out of 2 tasks\n" +
		"1/2: running   [==================================================>]\n" +
		"2/2: running   [==================================================>]\n" +
		"verify: Service converged\n"
	if last != want {
		t.Errorf("last frame:\n%q\nwant:\n%q", last, want)
	}
	if !regexp.MustCompile(`verify: Waiting [1-5] seconds to verify that tasks are stable\.\.\.`).MatchString(got) {
		t.Errorf("no countdown drawn: %q", got)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// scriptedControl is fakeControl with the service changing per poll too.
type scriptedControl struct {
	fakeControl
	svcs []*minswv1.Service
}

func (f *scriptedControl) GetService(context.Context, *minswv1.GetServiceRequest, ...grpc.CallOption) (*minswv1.GetServiceResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &minswv1.GetServiceResponse{Service: f.svcs[min(f.n, len(f.svcs)-1)]}, nil
}

func withStatus(svc *minswv1.Service, version uint64, st minswv1.UpdateState, msg string) *minswv1.Service {
	s := proto.Clone(svc).(*minswv1.Service)
	s.SpecVersion = version
	s.UpdateStatus = &minswv1.UpdateStatus{State: st, Message: msg, SpecVersion: version}
	return s
}

func v(t *minswv1.Task, version uint64) *minswv1.Task { t.SpecVersion = version; return t }

func TestWaitUpdateOutcomes(t *testing.T) {
	const culprit = "update paused due to failure or early termination of task x1"
	svc := service(2)
	up, rb := minswv1.UpdateState_UPDATE_STATE_UPDATING, minswv1.UpdateState_UPDATE_STATE_ROLLBACK_STARTED
	for _, tc := range []struct {
		name     string
		svcs     []*minswv1.Service
		polls    [][]*minswv1.Task
		rollback bool
		err      string
		lines    []string
	}{
		{
			name: "a paused update ends the wait with docker's message",
			svcs: []*minswv1.Service{withStatus(svc, 2, up, "update in progress"), withStatus(svc, 2, minswv1.UpdateState_UPDATE_STATE_PAUSED, culprit)},
			polls: [][]*minswv1.Task{
				{v(task("x1", 1, failed, 0, "task: non-zero exit (1)"), 2), task("b", 2, running, time.Hour, "")},
			},
			err: "service update paused: " + culprit,
		},
		{
			name: "an update rolled back by failure converges, then fails",
			svcs: []*minswv1.Service{
				withStatus(svc, 2, up, "update in progress"),
				withStatus(svc, 3, rb, "update rolled back due to failure or early termination of task x1"),
				withStatus(svc, 3, minswv1.UpdateState_UPDATE_STATE_ROLLBACK_COMPLETED, "rollback completed"),
			},
			polls: [][]*minswv1.Task{
				{v(task("x1", 1, failed, 0, "task: non-zero exit (1)"), 2)},
				{v(task("a", 1, running, time.Hour, ""), 3), v(task("b", 2, running, time.Hour, ""), 3)},
			},
			err: "service rolled back: rollback completed",
			lines: []string{"overall progress: rolling back update: 2 out of 2 tasks",
				"rollback: update rolled back due to failure or early termination of task x1", "verify: Service converged"},
		},
		{
			name:     "a rollback the user asked for is a success",
			rollback: true,
			svcs:     []*minswv1.Service{withStatus(svc, 3, rb, "manually requested rollback"), withStatus(svc, 3, minswv1.UpdateState_UPDATE_STATE_ROLLBACK_COMPLETED, "rollback completed")},
			polls:    [][]*minswv1.Task{{v(task("a", 1, running, time.Hour, ""), 3), v(task("b", 2, running, time.Hour, ""), 3)}},
			lines:    []string{"overall progress: rolling back update: 2 out of 2 tasks", "rollback: manually requested rollback", "verify: Service converged"},
		},
		{
			name: "a slot that keeps failing gives up instead of waiting forever",
			svcs: []*minswv1.Service{service(1)},
			polls: [][]*minswv1.Task{{
				task("r1", 1, minswv1.TaskState_TASK_STATE_REJECTED, 3*time.Second, "No such image: nope:latest"),
				task("r2", 1, minswv1.TaskState_TASK_STATE_REJECTED, 2*time.Second, "No such image: nope:latest"),
				task("r3", 1, minswv1.TaskState_TASK_STATE_REJECTED, time.Second, "No such image: nope:latest"),
				task("r4", 1, preparing, 0, ""),
			}},
			err: "service web cannot converge: 1/1: No such image: nope:latest",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := t0
			f := &scriptedControl{fakeControl: fakeControl{clock: &clock, step: time.Second, polls: tc.polls}, svcs: tc.svcs}
			var out strings.Builder
			opts := Options{Interval: time.Millisecond, Verify: 2 * time.Second, Stall: 3 * time.Second, Settle: 10 * time.Second,
				Now: func() time.Time { return clock }, Rollback: tc.rollback}
			err := Wait(context.Background(), f, "web", &Plain{Out: &out}, opts)
			if (err == nil) != (tc.err == "") || (err != nil && err.Error() != tc.err) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
			for _, l := range tc.lines {
				if !strings.Contains(out.String(), l+"\n") {
					t.Errorf("no line %q in\n%s", l, out.String())
				}
			}
		})
	}
}
