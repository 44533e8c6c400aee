package manager

import (
	"context"
	"errors"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/eventually"
	"github.com/minsw/minsw/manager/ca"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/agent"
	"github.com/minsw/minsw/worker/executor/fake"
)

// logsWorker is a worker joined with a worker token, running the real
// agent (mutual TLS to the leader) over the in-memory executor.
type logsWorker struct {
	id    string
	name  string
	creds *ca.Credentials
	ex    *fake.Executor
	stop  context.CancelFunc
	done  chan struct{}
}

func startLogsWorker(t *testing.T, ctx context.Context, leader *Manager, token, name string) *logsWorker {
	t.Helper()
	creds, id := joinNode(t, ctx, leader, token)
	w := &logsWorker{id: id, name: name, creds: creds, ex: fake.New(), done: make(chan struct{})}
	cfg := agent.DefaultConfig()
	cfg.NodeID = id
	cfg.Managers = []string{leader.cfg.AdvertiseAddr}
	cfg.Executor = w.ex
	cfg.Description = &api.NodeDescription{Hostname: name}
	cfg.Dial = func(ctx context.Context, addr string) (grpc.ClientConnInterface, error) {
		return grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(creds.ClientTLS(ca.ManagerServerName))))
	}
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithCancel(context.Background())
	w.stop = func() { cancel(); <-w.done }
	go func() { defer close(w.done); _ = a.Run(actx) }()
	t.Cleanup(w.stop)
	return w
}

// readLogs reads a ServiceLogs stream to its end: "task@node | line" for
// each line and "task@node ! error" for each task that could not be read.
func readLogs(t *testing.T, stream grpc.ServerStreamingClient[api.LogLine]) []string {
	t.Helper()
	var got []string
	for {
		l, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			sort.Strings(got)
			return got
		}
		if err != nil {
			t.Fatalf("service logs: %v", err)
		}
		got = append(got, formatLine(l))
	}
}

func formatLine(l *api.LogLine) string {
	if l.GetError() != "" {
		return l.GetTaskName() + "@" + l.GetNodeName() + " ! " + l.GetError()
	}
	return l.GetTaskName() + "@" + l.GetNodeName() + " | " + strings.TrimSuffix(string(l.GetData()), "\n")
}

// A service with a task on each of two workers, read through the leader
// and through a follower; tail, follow and cancel, a worker gone, and the
// refusals of what a worker may not do.
func TestServiceLogsFromTheNodesRunningTheTasks(t *testing.T) {
	ms := threeManagers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var leader, follower *Manager
	for _, m := range ms {
		if m.IsLeader() {
			leader = m
		} else {
			follower = m
		}
	}
	lctl := api.NewControlClient(dial(t, leader))
	cl, err := lctl.GetCluster(ctx, &api.GetClusterRequest{})
	if err != nil {
		t.Fatal(err)
	}
	token := cl.GetCluster().GetJoinTokens().GetWorker()
	workers := map[string]*logsWorker{}
	for _, name := range []string{"swarm-worker1", "swarm-worker2"} {
		w := startLogsWorker(t, ctx, leader, token, name)
		workers[w.id] = w
	}
	waitFor(t, func() bool { // both ready, so the tasks spread
		ready := 0
		for id := range workers {
			n, err := lctl.GetNode(ctx, &api.GetNodeRequest{Ref: id})
			if err == nil && n.GetNode().GetStatus().GetState() == api.NodeState_NODE_STATE_READY {
				ready++
			}
		}
		return ready == 2
	})
	svc, err := lctl.CreateService(ctx, &api.CreateServiceRequest{Spec: service("web")})
	if err != nil {
		t.Fatal(err)
	}
	var tasks []*api.Task
	eventually.True(t, "tasks running on both workers", func() bool {
		ts, err := lctl.ListTasks(ctx, &api.ListTasksRequest{ServiceIds: []string{svc.Service.Id}})
		if err != nil {
			t.Fatal(err)
		}
		running := map[string]bool{}
		for _, tk := range ts.Tasks {
			if tk.GetStatus().GetState() == api.TaskState_TASK_STATE_RUNNING {
				running[tk.GetNodeId()] = true
			}
		}
		tasks = ts.Tasks
		return len(running) == 2
	})
	name := map[string]string{} // task ID -> "web.N.ID@swarm-workerN"
	for _, tk := range tasks {
		w := workers[tk.NodeId]
		name[tk.Id] = agent.TaskName(tk) + "@" + w.name
		if err := w.ex.WriteLog(agent.ContainerID(tk.Id), "first from "+w.name+"\nsecond from "+w.name+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	t1, t2 := tasks[0], tasks[1]
	want := func(lines ...string) []string { sort.Strings(lines); return lines }

	for _, tc := range []struct {
		name string
		via  *Manager
		tail int32
		want []string
	}{
		{"every line of both tasks, from the leader", leader, -1, want(
			name[t1.Id]+" | started "+agent.TaskName(t1), name[t2.Id]+" | started "+agent.TaskName(t2),
			name[t1.Id]+" | first from "+workers[t1.NodeId].name, name[t1.Id]+" | second from "+workers[t1.NodeId].name,
			name[t2.Id]+" | first from "+workers[t2.NodeId].name, name[t2.Id]+" | second from "+workers[t2.NodeId].name)},
		{"tail 1, through a follower", follower, 1, want(
			name[t1.Id]+" | second from "+workers[t1.NodeId].name, name[t2.Id]+" | second from "+workers[t2.NodeId].name)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream, err := api.NewControlClient(dial(t, tc.via)).ServiceLogs(ctx, &api.ServiceLogsRequest{Ref: "web", Tail: tc.tail})
			if err != nil {
				t.Fatal(err)
			}
			if got := readLogs(t, stream); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}

	t.Run("follow through a follower sees a new line and ends when the reader goes", func(t *testing.T) {
		fctx, fcancel := context.WithCancel(ctx)
		defer fcancel()
		stream, err := api.NewControlClient(dial(t, follower)).ServiceLogs(fctx, &api.ServiceLogsRequest{Ref: t1.Id, Follow: true, Tail: -1})
		if err != nil {
			t.Fatal(err)
		}
		// The lines already there come first: the worker is reading.
		for range 3 {
			if _, err := stream.Recv(); err != nil {
				t.Fatal(err)
			}
		}
		w := workers[t1.NodeId]
		if err := w.ex.WriteLog(agent.ContainerID(t1.Id), "written after the call\n"); err != nil {
			t.Fatal(err)
		}
		l, err := stream.Recv()
		if err != nil || formatLine(l) != name[t1.Id]+" | written after the call" {
			t.Fatalf("followed %v %v", l, err)
		}
		fcancel()
		if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
			t.Fatalf("after cancel: %v", err)
		}
		waitFor(t, func() bool { return subscriptions(leader) == 0 })
	})

	t.Run("follow of a service picks up a task started after it began", func(t *testing.T) {
		fctx, fcancel := context.WithCancel(ctx)
		defer fcancel()
		stream, err := lctl.ServiceLogs(fctx, &api.ServiceLogsRequest{Ref: "web", Follow: true, Tail: 0})
		if err != nil {
			t.Fatal(err)
		}
		cur, err := lctl.GetService(ctx, &api.GetServiceRequest{Ref: "web"})
		if err != nil {
			t.Fatal(err)
		}
		spec := proto.Clone(cur.Service.Spec).(*api.ServiceSpec)
		spec.Mode = &api.ServiceSpec_Replicated{Replicated: &api.ReplicatedService{Replicas: 3}}
		if _, err := lctl.UpdateService(ctx, &api.UpdateServiceRequest{Ref: "web", Version: cur.Service.Meta.Version, Spec: spec}); err != nil {
			t.Fatal(err)
		}
		var t3 *api.Task
		waitFor(t, func() bool {
			ts, err := lctl.ListTasks(ctx, &api.ListTasksRequest{ServiceIds: []string{svc.Service.Id}})
			if err != nil {
				return false
			}
			for _, tk := range ts.Tasks {
				if tk.Slot == 3 && tk.GetStatus().GetState() == api.TaskState_TASK_STATE_RUNNING {
					t3 = tk
					return true
				}
			}
			return false
		})
		// Written until the follow's new subscription reaches the worker.
		w := workers[t3.NodeId]
		got := make(chan *api.LogLine, 1)
		go func() {
			for {
				l, err := stream.Recv()
				if err != nil {
					close(got)
					return
				}
				if l.TaskId == t3.Id && strings.Contains(string(l.Data), "from the new task") {
					got <- l
					return
				}
			}
		}()
		for i := 0; ; i++ {
			if err := w.ex.WriteLog(agent.ContainerID(t3.Id), "from the new task\n"); err != nil {
				t.Fatal(err)
			}
			select {
			case l, ok := <-got:
				if !ok || formatLine(l) != agent.TaskName(t3)+"@"+w.name+" | from the new task" {
					t.Fatalf("followed %v", l)
				}
				fcancel()
				return
			case <-time.After(200 * time.Millisecond):
			}
			if i > 100 {
				t.Fatal("the follow never showed the task started after it began")
			}
		}
	})

	t.Run("a worker may not read logs, nor publish or listen as another node", func(t *testing.T) {
		w1 := workers[t1.NodeId]
		conn := dialAs(t, leader.cfg.AdvertiseAddr, w1.creds)
		s, err := api.NewControlClient(conn).ServiceLogs(ctx, &api.ServiceLogsRequest{Ref: "web"})
		if err == nil {
			_, err = s.Recv()
		}
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("service logs from a worker: %v", err)
		}
		disp := api.NewDispatcherClient(conn)
		pub, err := disp.PublishLogs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_ = pub.Send(&api.PublishLogsMessage{NodeId: t2.NodeId, SubscriptionId: "x", TaskId: t2.Id, Data: []byte("forged\n")})
		if _, err := pub.CloseAndRecv(); status.Code(err) != codes.PermissionDenied {
			t.Errorf("publishing as another node: %v", err)
		}
		pub, err = disp.PublishLogs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_ = pub.Send(&api.PublishLogsMessage{NodeId: w1.id, SubscriptionId: "x", TaskId: t2.Id, Data: []byte("forged\n")})
		if _, err := pub.CloseAndRecv(); status.Code(err) != codes.NotFound {
			t.Errorf("publishing for a subscription it was not given: %v", err)
		}
		ls, err := disp.LogSubscriptions(ctx, &api.LogSubscriptionsRequest{NodeId: t2.NodeId, SessionId: "x"})
		if err == nil {
			_, err = ls.Recv()
		}
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("listening as another node: %v", err)
		}
	})

	t.Run("a worker without a session is reported, not waited for", func(t *testing.T) {
		workers[t2.NodeId].stop()
		start := time.Now()
		stream, err := lctl.ServiceLogs(ctx, &api.ServiceLogsRequest{Ref: "web", Tail: 1})
		if err != nil {
			t.Fatal(err)
		}
		got := readLogs(t, stream)
		all := strings.Join(got, "\n")
		// Three tasks since the follow subtest scaled web up.
		if len(got) != 3 || !strings.Contains(all, name[t1.Id]+" | written after the call") ||
			!strings.Contains(all, name[t2.Id]+" ! node unavailable: node "+t2.NodeId) {
			t.Fatalf("got %q", got)
		}
		t.Logf("a worker gone: answered in %v: %q", time.Since(start), got)
	})
}

func subscriptions(m *Manager) int { return m.logs.Subscriptions() }

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	eventually.True(t, "the condition", cond)
}
