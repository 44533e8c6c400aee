package agent

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/eventually"
	"github.com/minsw/minsw/internal/prototest"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/executor/fake"
)

// TestUnchangedTaskDoesNotWakeItsRunner: a complete assignment set repeats
// every task; a runner handed its own unchanged copy must stay asleep (each
// woke and inspected its container, 25,000 of them on every set).
func TestUnchangedTaskDoesNotWakeItsRunner(t *testing.T) {
	tk := &api.Task{Id: "t1", NodeId: "n1", Meta: &api.Meta{Version: 3}, DesiredState: api.TaskState_TASK_STATE_RUNNING,
		Status: &api.TaskStatus{State: api.TaskState_TASK_STATE_RUNNING, Message: "started"}}
	r := newTaskRunner(&Agent{}, tk)
	woken := func() bool {
		select {
		case <-r.wake:
			return true
		default:
			return false
		}
	}
	if r.update(proto.Clone(tk).(*api.Task)) || woken() {
		t.Fatal("an unchanged copy of the task woke its runner")
	}
	newer := proto.Clone(tk).(*api.Task)
	newer.Meta.Version = 4
	newer.DesiredState = api.TaskState_TASK_STATE_SHUTDOWN
	if !r.update(newer) || !woken() {
		t.Fatal("a changed task did not wake its runner")
	}
}

// statusRecorder is a DispatcherClient that takes every status report and
// records each call's size.
type statusRecorder struct {
	api.DispatcherClient
	mu    sync.Mutex
	calls []int
	got   map[string]bool
}

func (s *statusRecorder) UpdateTaskStatus(_ context.Context, req *api.UpdateTaskStatusRequest, _ ...grpc.CallOption) (*api.UpdateTaskStatusResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, len(req.GetUpdates()))
	for _, u := range req.GetUpdates() {
		s.got[u.GetTaskId()] = true
	}
	return &api.UpdateTaskStatusResponse{}, nil
}

// TestReportsAreSentInBoundedCalls: 2,500 queued reports (a node that
// started its tasks while it had no manager) go in calls of at most
// maxReportsPerCall, all of them delivered; one call with everything
// passed gRPC's message limit at ~25,000 tasks and was refused for ever.
func TestReportsAreSentInBoundedCalls(t *testing.T) {
	cfg := DefaultConfig()
	cfg.NodeID, cfg.Managers, cfg.Executor = "n1", []string{"m"}, fake.New()
	cfg.Dial = func(context.Context, string) (grpc.ClientConnInterface, error) {
		return nil, fmt.Errorf("no dialing here")
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := &statusRecorder{got: map[string]bool{}}
	const n = 2500
	for i := range n {
		a.rep.put(fmt.Sprintf("t%04d", i), &api.TaskStatus{State: api.TaskState_TASK_STATE_RUNNING})
	}
	a.setSession(&activeSession{client: rec, id: "s1", end: func(error) {}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.rep.run(ctx) }()
	defer func() { cancel(); <-done }()
	eventually.Within(t, 30*time.Second, "every report delivered", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.got) == n
	})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i, c := range rec.calls {
		if c > maxReportsPerCall {
			t.Errorf("call %d carried %d reports, over %d", i, c, maxReportsPerCall)
		}
	}
	if len(rec.calls) < n/maxReportsPerCall {
		t.Errorf("%d calls for %d reports", len(rec.calls), n)
	}
}

// BenchmarkTasksView25k: Tasks() on a node with 25,000 tasks, which the
// netagent calls after every status change the node makes.
func BenchmarkTasksView25k(b *testing.B) {
	a := &Agent{runners: map[string]*taskRunner{}}
	spec := &api.TaskSpec{Container: &api.ContainerSpec{Image: "busybox", Env: []string{"A=1", "B=2"}, Args: []string{"sleep", "1d"}}}
	for i := range 25_000 {
		tk := &api.Task{Id: fmt.Sprintf("t%05d", i), NodeId: "n1", Meta: &api.Meta{Version: 3}, Spec: spec, ServiceName: "web",
			DesiredState: api.TaskState_TASK_STATE_RUNNING, Networks: []*api.NetworkAttachment{{NetworkId: "net1", Addresses: []string{"10.0.0.2/24"}}}}
		r := newTaskRunner(a, tk)
		r.status = &api.TaskStatus{State: api.TaskState_TASK_STATE_RUNNING, Message: "started", Container: &api.ContainerStatus{ContainerId: ContainerID(tk.Id)}}
		a.runners[tk.Id] = r
	}
	b.ReportAllocs()
	for b.Loop() {
		if n := len(a.Tasks()); n != 25_000 {
			b.Fatal(n)
		}
	}
}

// TestTaskViewCopiesEveryField sets every field of a task and checks that
// a runner's view holds them all, with the runner's status, sharing the
// spec instead of copying it. It fails when Task gains a field view does
// not copy.
func TestTaskViewCopiesEveryField(t *testing.T) {
	tk := &api.Task{}
	prototest.FillEveryField(t, tk, "view")
	r := newTaskRunner(&Agent{}, tk)
	r.status = &api.TaskStatus{State: api.TaskState_TASK_STATE_RUNNING, Message: "started"}
	got := r.view()
	want := proto.Clone(tk).(*api.Task)
	want.Status = r.status
	if !proto.Equal(got, want) {
		t.Fatalf("view dropped a field:\n got %v\nwant %v", got, want)
	}
	if got.Spec != tk.Spec || got.Status != r.status {
		t.Error("the view copies the spec or the status instead of sharing them")
	}
}

// failingRecorder refuses every call as a manager that lost the
// leadership does.
type failingRecorder struct {
	api.DispatcherClient
	calls atomic.Int64
}

func (f *failingRecorder) UpdateTaskStatus(context.Context, *api.UpdateTaskStatusRequest, ...grpc.CallOption) (*api.UpdateTaskStatusResponse, error) {
	f.calls.Add(1)
	return nil, status.Error(codes.FailedPrecondition, "not the leader; the leader is at 10.0.0.2:2377")
}

// TestReportsFollowTheLeaderChange: reports refused by a manager that is
// no longer the leader end that session and all go, none lost, to the next
// session's manager.
func TestReportsFollowTheLeaderChange(t *testing.T) {
	cfg := DefaultConfig()
	cfg.NodeID, cfg.Managers, cfg.Executor = "n1", []string{"m"}, fake.New()
	cfg.Dial = func(context.Context, string) (grpc.ClientConnInterface, error) {
		return nil, fmt.Errorf("no dialing here")
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1500
	for i := range n {
		a.rep.put(fmt.Sprintf("t%04d", i), &api.TaskStatus{State: api.TaskState_TASK_STATE_RUNNING})
	}
	old := &failingRecorder{}
	ended := make(chan error, 1)
	s1 := &activeSession{client: old, id: "s1", end: func(err error) {
		select {
		case ended <- err:
		default:
		}
	}}
	a.setSession(s1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.rep.run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case err := <-ended:
		if status.Code(err) != codes.FailedPrecondition {
			t.Fatalf("session ended with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the refused reports did not end the session")
	}
	a.clearSession(s1)
	rec := &statusRecorder{got: map[string]bool{}}
	a.setSession(&activeSession{client: rec, id: "s2", end: func(error) {}})
	eventually.Within(t, 30*time.Second, "every report delivered to the new leader", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.got) == n
	})
	if c := old.calls.Load(); c > 5 {
		t.Errorf("the old leader was called %d times after refusing", c)
	}
}
