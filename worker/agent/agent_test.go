package agent_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/minsw/minsw/internal/eventually"
	"github.com/minsw/minsw/manager/dispatcher"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/agent"
	"github.com/minsw/minsw/worker/executor"
	"github.com/minsw/minsw/worker/executor/fake"
)

// manager is a store and a dispatcher served on a unix socket, as the
// leader would serve it.
type manager struct {
	t    testing.TB
	st   *store.Store
	d    *dispatcher.Dispatcher
	addr string // unix:<path>
	srv  *grpc.Server
	stop context.CancelFunc
	done chan struct{}
}

func newManager(t testing.TB, st *store.Store, leader func() string) *manager {
	t.Helper()
	cfg := dispatcher.DefaultConfig()
	cfg.LeaderAddr = leader
	d, err := dispatcher.New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "m.sock")
	m := &manager{t: t, st: st, d: d, addr: "unix:" + sock}
	m.serve()
	t.Cleanup(func() { m.runStop(); m.srv.Stop() })
	return m
}

func (m *manager) serve() {
	lis, err := net.Listen("unix", strings.TrimPrefix(m.addr, "unix:"))
	if err != nil {
		m.t.Fatal(err)
	}
	m.srv = grpc.NewServer()
	api.RegisterDispatcherServer(m.srv, m.d)
	go func() { _ = m.srv.Serve(lis) }()
}

func (m *manager) run() {
	ctx, cancel := context.WithCancel(context.Background())
	m.stop, m.done = cancel, make(chan struct{})
	go func() { defer close(m.done); _ = m.d.Run(ctx) }()
}

func (m *manager) runStop() {
	if m.stop != nil {
		m.stop()
		<-m.done
		m.stop = nil
	}
}

func dial(ctx context.Context, addr string) (grpc.ClientConnInterface, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

func newStore(t testing.TB, nodes ...string) *store.Store {
	st := store.New(nil, nil)
	err := st.Update(context.Background(), func(tx *store.Tx) error {
		// 2 s heartbeats (a 6 s grace): no test here waits for a heartbeat
		// but TestHeartbeatsKeepTheNodeUpUntilTheAgentStops, which sets its
		// own period; a shorter one lets a loaded machine end sessions
		// behind the tests' backs (each heartbeat call may take at most one
		// period, and a node silent for three is marked down).
		if err := tx.Create(&api.Cluster{Id: "cluster", Meta: &api.Meta{}, Spec: &api.ClusterSpec{HeartbeatPeriod: durationpb.New(2 * time.Second)}}); err != nil {
			return err
		}
		for _, n := range nodes {
			if err := tx.Create(&api.Node{Id: n, Meta: &api.Meta{}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// startAgent runs an agent until the test ends (or stop is called).
func startAgent(t testing.TB, node string, managers []string, ex executor.Executor) (*agent.Agent, func()) {
	t.Helper()
	cfg := agent.DefaultConfig()
	cfg.NodeID = node
	cfg.Managers = managers
	cfg.Dial = dial
	cfg.Executor = ex
	cfg.Description = &api.NodeDescription{Hostname: node}
	cfg.ReconnectDelay = 20 * time.Millisecond
	cfg.MaxReconnectDelay = 200 * time.Millisecond
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("agent run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return a, stop
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	eventually.True(t, what, cond)
}

func task(st *store.Store, id string) *api.Task {
	var t *api.Task
	st.View(func(tx store.ReadTx) { t = tx.Task(id) })
	return t
}

func nodeState(st *store.Store, id string) api.NodeState {
	var s api.NodeState
	st.View(func(tx store.ReadTx) { s = tx.Node(id).GetStatus().GetState() })
	return s
}

func waitState(t testing.TB, st *store.Store, id string, want api.TaskState) *api.Task {
	t.Helper()
	var tk *api.Task
	eventually.True(t, fmt.Sprintf("task %s %v", id, want), func() bool {
		tk = task(st, id)
		return tk.GetStatus().GetState() == want
	})
	return tk
}

// assign creates tasks as the scheduler leaves them: assigned to node.
func assign(t testing.TB, st *store.Store, node, image string, ids ...string) {
	t.Helper()
	err := st.Update(context.Background(), func(tx *store.Tx) error {
		for i, id := range ids {
			tk := &api.Task{
				Id: id, Meta: &api.Meta{}, ServiceId: "svc1", ServiceName: "web", Slot: uint64(i + 1), NodeId: node,
				DesiredState: api.TaskState_TASK_STATE_RUNNING,
				Spec:         &api.TaskSpec{Container: &api.ContainerSpec{Image: image, Env: []string{"A=1"}}},
				Status:       &api.TaskStatus{State: api.TaskState_TASK_STATE_ASSIGNED, Message: "assigned"},
			}
			if err := tx.Create(tk); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func setDesired(t testing.TB, st *store.Store, id string, desired api.TaskState) {
	t.Helper()
	err := st.Update(context.Background(), func(tx *store.Tx) error {
		tk := proto.Clone(tx.Task(id)).(*api.Task)
		tk.DesiredState = desired
		return tx.Update(tk)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func deleteTask(t testing.TB, st *store.Store, id string) {
	t.Helper()
	err := st.Update(context.Background(), func(tx *store.Tx) error { return tx.Delete(tx.Task(id)) })
	if err != nil {
		t.Fatal(err)
	}
}

func TestSessionMakesNodeReady(t *testing.T) {
	st := newStore(t, "worker1")
	m := newManager(t, st, nil)
	m.run()
	a, _ := startAgent(t, "worker1", []string{m.addr}, fake.New())
	waitFor(t, "node ready", func() bool { return nodeState(st, "worker1") == api.NodeState_NODE_STATE_READY })
	waitFor(t, "agent sees its node", func() bool { return a.Node().GetId() == "worker1" && a.Leader() == m.addr })
}

func TestAssignedTaskRuns(t *testing.T) {
	st := newStore(t, "worker1")
	m := newManager(t, st, nil)
	m.run()
	ex := fake.New()
	a, _ := startAgent(t, "worker1", []string{m.addr}, ex)
	assign(t, st, "worker1", "containous/whoami", "task1")
	tk := waitState(t, st, "task1", api.TaskState_TASK_STATE_RUNNING)
	if tk.GetStatus().GetMessage() != "started" {
		t.Errorf("message %q", tk.GetStatus().GetMessage())
	}
	id := agent.ContainerID("task1")
	if tk.GetStatus().GetContainer().GetContainerId() != id || tk.GetStatus().GetContainer().GetPid() == 0 {
		t.Errorf("container status %v", tk.GetStatus().GetContainer())
	}
	spec, ok := ex.Spec(id)
	if !ok {
		t.Fatalf("no container %s", id)
	}
	if spec.Name != "web.1.task1" || spec.Hostname != id[:12] || spec.Labels["minsw.task.id"] != "task1" ||
		spec.Labels["minsw.service.id"] != "svc1" || spec.Labels["minsw.node.id"] != "worker1" || spec.Env[0] != "A=1" {
		t.Errorf("spec %+v", spec)
	}
	waitFor(t, "local view running", func() bool {
		ts := a.Tasks()
		return len(ts) == 1 && ts[0].GetStatus().GetState() == api.TaskState_TASK_STATE_RUNNING
	})
}

func TestNonZeroExitFails(t *testing.T) {
	st := newStore(t, "worker1")
	m := newManager(t, st, nil)
	m.run()
	startAgent(t, "worker1", []string{m.addr}, fake.New())
	assign(t, st, "worker1", "busybox-exit1", "task1")
	tk := waitState(t, st, "task1", api.TaskState_TASK_STATE_FAILED)
	if tk.GetStatus().GetErr() != "task: non-zero exit (1)" || tk.GetStatus().GetContainer().GetExitCode() != 1 {
		t.Fatalf("status %v", tk.GetStatus())
	}
}

func TestExitZeroCompletes(t *testing.T) {
	st := newStore(t, "worker1")
	m := newManager(t, st, nil)
	m.run()
	startAgent(t, "worker1", []string{m.addr}, fake.New())
	assign(t, st, "worker1", "busybox-exit0", "task1")
	tk := waitState(t, st, "task1", api.TaskState_TASK_STATE_COMPLETE)
	if tk.GetStatus().GetErr() != "" || tk.GetStatus().GetMessage() != "finished" {
		t.Fatalf("status %v", tk.GetStatus())
	}
}

func TestMissingImageIsRejected(t *testing.T) {
	st := newStore(t, "worker1")
	m := newManager(t, st, nil)
	m.run()
	ex := fake.New()
	startAgent(t, "worker1", []string{m.addr}, ex)
	assign(t, st, "worker1", "missing/img:1", "task1")
	tk := waitState(t, st, "task1", api.TaskState_TASK_STATE_REJECTED)
	if tk.GetStatus().GetErr() != "No such image: missing/img:1" {
		t.Fatalf("err %q", tk.GetStatus().GetErr())
	}
	if ls, _ := ex.List(context.Background()); len(ls) != 0 {
		t.Fatalf("containers left: %v", ls)
	}
}

func TestDesiredShutdownStopsTheContainer(t *testing.T) {
	st := newStore(t, "worker1")
	m := newManager(t, st, nil)
	m.run()
	ex := fake.New()
	startAgent(t, "worker1", []string{m.addr}, ex)
	assign(t, st, "worker1", "containous/whoami", "task1")
	waitState(t, st, "task1", api.TaskState_TASK_STATE_RUNNING)
	setDesired(t, st, "task1", api.TaskState_TASK_STATE_SHUTDOWN)
	tk := waitState(t, st, "task1", api.TaskState_TASK_STATE_SHUTDOWN)
	if tk.GetStatus().GetMessage() != "shutdown" {
		t.Errorf("message %q", tk.GetStatus().GetMessage())
	}
	cs, err := ex.Inspect(context.Background(), agent.ContainerID("task1"))
	if err != nil || cs.State != executor.StateExited {
		t.Fatalf("container %+v %v", cs, err)
	}
	// The orchestrator deleting the task removes the container.
	deleteTask(t, st, "task1")
	waitFor(t, "container removed", func() bool { ls, _ := ex.List(context.Background()); return len(ls) == 0 })
}

func TestHeldAtReadyUntilDesiredRunning(t *testing.T) {
	st := newStore(t, "worker1")
	m := newManager(t, st, nil)
	m.run()
	startAgent(t, "worker1", []string{m.addr}, fake.New())
	assign(t, st, "worker1", "containous/whoami", "task1")
	setDesired(t, st, "task1", api.TaskState_TASK_STATE_READY)
	// Racing the first assignment, the task may be seen with desired
	// running; only check that it ends up running after we raise it.
	setDesired(t, st, "task1", api.TaskState_TASK_STATE_RUNNING)
	waitState(t, st, "task1", api.TaskState_TASK_STATE_RUNNING)

	err := st.Update(context.Background(), func(tx *store.Tx) error {
		tk := &api.Task{
			Id: "task2", Meta: &api.Meta{}, ServiceId: "svc1", ServiceName: "web", Slot: 2, NodeId: "worker1",
			DesiredState: api.TaskState_TASK_STATE_READY,
			Spec:         &api.TaskSpec{Container: &api.ContainerSpec{Image: "containous/whoami"}},
			Status:       &api.TaskStatus{State: api.TaskState_TASK_STATE_ASSIGNED},
		}
		return tx.Create(tk)
	})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, st, "task2", api.TaskState_TASK_STATE_READY)
	eventually.Stays(t, 100*time.Millisecond, "the task held at ready", func() bool {
		return task(st, "task2").GetStatus().GetState() == api.TaskState_TASK_STATE_READY
	})
	setDesired(t, st, "task2", api.TaskState_TASK_STATE_RUNNING)
	waitState(t, st, "task2", api.TaskState_TASK_STATE_RUNNING)
}

func TestReconnectsAfterDispatcherRestart(t *testing.T) {
	st := newStore(t, "worker1")
	m := newManager(t, st, nil)
	m.run()
	a, _ := startAgent(t, "worker1", []string{m.addr}, fake.New())
	waitFor(t, "session", func() bool { return a.Leader() != "" })

	// The manager process goes away entirely, then comes back.
	m.runStop()
	m.srv.Stop()
	waitFor(t, "session lost", func() bool { return a.Leader() == "" })
	m.serve()
	m.run()
	waitFor(t, "session back", func() bool { return a.Leader() == m.addr })
	assign(t, st, "worker1", "containous/whoami", "task1")
	waitState(t, st, "task1", api.TaskState_TASK_STATE_RUNNING)
	if s := nodeState(st, "worker1"); s != api.NodeState_NODE_STATE_READY {
		t.Fatalf("node %v", s)
	}
}

func TestFollowsTheLeader(t *testing.T) {
	st := newStore(t, "worker1")
	var mu sync.Mutex
	leaderAddr := ""
	current := func() string { mu.Lock(); defer mu.Unlock(); return leaderAddr }
	m1 := newManager(t, st, current)
	m2 := newManager(t, st, current)
	mu.Lock()
	leaderAddr = m1.addr
	mu.Unlock()
	m1.run()
	a, _ := startAgent(t, "worker1", []string{m2.addr}, fake.New())
	waitFor(t, "session with the leader", func() bool { return a.Leader() == m1.addr })

	// Leadership moves to m2: m1 stops its dispatcher and redirects.
	mu.Lock()
	leaderAddr = m2.addr
	mu.Unlock()
	m1.runStop()
	m2.run()
	waitFor(t, "session with the new leader", func() bool { return a.Leader() == m2.addr })
	assign(t, st, "worker1", "containous/whoami", "task1")
	waitState(t, st, "task1", api.TaskState_TASK_STATE_RUNNING)
}

func TestAdoptsContainersAfterRestart(t *testing.T) {
	st := newStore(t, "worker1")
	m := newManager(t, st, nil)
	m.run()
	ex := fake.New()
	_, stop := startAgent(t, "worker1", []string{m.addr}, ex)
	assign(t, st, "worker1", "containous/whoami", "keep1", "keep2", "gone", "dies")
	for _, id := range []string{"keep1", "keep2", "gone", "dies"} {
		waitState(t, st, id, api.TaskState_TASK_STATE_RUNNING)
	}
	stop()
	before := ex.Counts()

	// While the agent is down: one task is deleted, one container dies.
	deleteTask(t, st, "gone")
	if err := ex.Exit(agent.ContainerID("dies"), 2); err != nil {
		t.Fatal(err)
	}
	startAgent(t, "worker1", []string{m.addr}, ex)
	waitFor(t, "orphan removed", func() bool {
		_, err := ex.Inspect(context.Background(), agent.ContainerID("gone"))
		return err != nil
	})
	tk := waitState(t, st, "dies", api.TaskState_TASK_STATE_FAILED)
	if tk.GetStatus().GetErr() != "task: non-zero exit (2)" {
		t.Fatalf("dies: %v", tk.GetStatus())
	}
	after := ex.Counts()
	if after.Creates != before.Creates || after.Starts != before.Starts {
		t.Fatalf("restart made containers again: before %+v after %+v", before, after)
	}
	for _, id := range []string{"keep1", "keep2"} {
		cs, err := ex.Inspect(context.Background(), agent.ContainerID(id))
		if err != nil || cs.State != executor.StateRunning {
			t.Fatalf("%s: %+v %v", id, cs, err)
		}
		if s := task(st, id).GetStatus().GetState(); s != api.TaskState_TASK_STATE_RUNNING {
			t.Fatalf("%s: %v", id, s)
		}
	}
	if ls, _ := ex.List(context.Background()); len(ls) != 3 {
		t.Fatalf("%d containers, want 3", len(ls))
	}
}

func TestPullsRunConcurrently(t *testing.T) {
	st := newStore(t, "worker1")
	m := newManager(t, st, nil)
	m.run()
	ex := fake.New()
	release := make(chan struct{})
	var mu sync.Mutex
	inPull := 0
	ex.Hooks.Pull = func(ctx context.Context, image string) error {
		mu.Lock()
		inPull++
		mu.Unlock()
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	}
	startAgent(t, "worker1", []string{m.addr}, ex)
	assign(t, st, "worker1", "containous/whoami", "t1", "t2", "t3")
	waitFor(t, "three pulls at once", func() bool { mu.Lock(); defer mu.Unlock(); return inPull == 3 })
	close(release)
	for _, id := range []string{"t1", "t2", "t3"} {
		waitState(t, st, id, api.TaskState_TASK_STATE_RUNNING)
	}
	if c := ex.Counts(); c.Pulls != 1 || c.Creates != 3 {
		t.Fatalf("counts %+v", c)
	}
}

func TestShutdownDuringPullCancelsIt(t *testing.T) {
	st := newStore(t, "worker1")
	m := newManager(t, st, nil)
	m.run()
	ex := fake.New()
	pulling := make(chan struct{}, 1)
	ex.Hooks.Pull = func(ctx context.Context, image string) error {
		pulling <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	}
	startAgent(t, "worker1", []string{m.addr}, ex)
	assign(t, st, "worker1", "containous/whoami", "t1")
	<-pulling
	setDesired(t, st, "t1", api.TaskState_TASK_STATE_SHUTDOWN)
	waitState(t, st, "t1", api.TaskState_TASK_STATE_SHUTDOWN)
}

func TestHeartbeatsKeepTheNodeUpUntilTheAgentStops(t *testing.T) {
	st := newStore(t, "worker1")
	err := st.Update(context.Background(), func(tx *store.Tx) error {
		c := proto.Clone(tx.Cluster()).(*api.Cluster)
		// 500 ms (a 1.5 s grace): short enough for a test, long enough
		// that a heartbeat late by a loaded machine's scheduling (40 ms
		// with a 120 ms grace failed at load 17) is still in time; the
		// agent also gives each heartbeat call at most one period, and
		// ends its session when one takes longer.
		c.Spec.HeartbeatPeriod = durationpb.New(500 * time.Millisecond)
		return tx.Update(c)
	})
	if err != nil {
		t.Fatal(err)
	}
	m := newManager(t, st, nil)
	m.run()
	_, stop := startAgent(t, "worker1", []string{m.addr}, fake.New())
	waitFor(t, "node ready", func() bool { return nodeState(st, "worker1") == api.NodeState_NODE_STATE_READY })
	eventually.Stays(t, 3200*time.Millisecond, "the heartbeating node ready for over twice the 1.5 s grace", func() bool {
		return nodeState(st, "worker1") == api.NodeState_NODE_STATE_READY
	})
	stop()
	waitFor(t, "node down", func() bool { return nodeState(st, "worker1") == api.NodeState_NODE_STATE_DOWN })
}

func TestNodeAndNetworksAreExposed(t *testing.T) {
	st := newStore(t, "worker1")
	err := st.Update(context.Background(), func(tx *store.Tx) error {
		for _, n := range []*api.Network{
			{Id: "ingressid", Meta: &api.Meta{}, Spec: &api.NetworkSpec{Name: "ingress", Ingress: true}, Subnet: "10.0.0.0/24", Vni: 4096},
			{Id: "mynetid", Meta: &api.Meta{}, Spec: &api.NetworkSpec{Name: "mynet"}, Subnet: "10.0.1.0/24", Vni: 4097},
			{Id: "unused", Meta: &api.Meta{}, Spec: &api.NetworkSpec{Name: "other"}},
		} {
			if err := tx.Create(n); err != nil {
				return err
			}
		}
		n := proto.Clone(tx.Node("worker1")).(*api.Node)
		n.Role = api.NodeRole_NODE_ROLE_WORKER
		n.LbAttachments = []*api.NetworkAttachment{{NetworkId: "ingressid", Addresses: []string{"10.0.0.2/24"}}}
		return tx.Update(n)
	})
	if err != nil {
		t.Fatal(err)
	}
	m := newManager(t, st, nil)
	m.run()
	var mu sync.Mutex
	prepared := map[string][]string{}
	ex := fake.New()
	cfg := agent.DefaultConfig()
	cfg.NodeID, cfg.Managers, cfg.Dial, cfg.Executor = "worker1", []string{m.addr}, dial, ex
	cfg.Network = netFunc(func(tk *api.Task, nets []*api.Network) string {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range nets {
			prepared[tk.GetId()] = append(prepared[tk.GetId()], n.GetSpec().GetName())
		}
		return "/var/run/minsw/netns/" + tk.GetId()[:5]
	})
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	changed := a.Changed()
	waitFor(t, "lb attachment", func() bool { return len(a.Node().GetLbAttachments()) == 1 })
	<-changed
	if ns := a.Networks(); len(ns) != 1 || ns[0].GetSpec().GetName() != "ingress" {
		t.Fatalf("networks %v", ns)
	}
	err = st.Update(context.Background(), func(tx *store.Tx) error {
		return tx.Create(&api.Task{
			Id: "task1", Meta: &api.Meta{}, ServiceId: "svc1", ServiceName: "web", Slot: 1, NodeId: "worker1",
			DesiredState: api.TaskState_TASK_STATE_RUNNING,
			Spec:         &api.TaskSpec{Container: &api.ContainerSpec{Image: "containous/whoami"}, Networks: []*api.NetworkAttachmentConfig{{Target: "mynetid"}}},
			Networks:     []*api.NetworkAttachment{{NetworkId: "mynetid", Addresses: []string{"10.0.1.3/24"}}},
			Status:       &api.TaskStatus{State: api.TaskState_TASK_STATE_ASSIGNED},
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, st, "task1", api.TaskState_TASK_STATE_RUNNING)
	if ns := a.Networks(); len(ns) != 2 {
		t.Fatalf("networks %v", ns)
	}
	spec, _ := ex.Spec(agent.ContainerID("task1"))
	if spec.NetnsPath != "/var/run/minsw/netns/task1" || len(spec.DNS) != 1 || spec.DNS[0] != "127.0.0.11" {
		t.Fatalf("spec %+v", spec)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := prepared["task1"]; len(got) != 1 || got[0] != "mynet" {
		t.Fatalf("prepared with %v", got)
	}
}

type netFunc func(*api.Task, []*api.Network) string

func (f netFunc) Prepare(_ context.Context, t *api.Task, nets []*api.Network) (string, error) {
	return f(t, nets), nil
}
func (netFunc) Release(context.Context, *api.Task) error { return nil }

func TestGlobalTaskName(t *testing.T) {
	tk := &api.Task{Id: "abc", ServiceName: "mon", NodeId: "node9"}
	if got := agent.TaskName(tk); got != "mon.node9.abc" {
		t.Fatalf("global name %q", got)
	}
	tk.Slot = 2
	if got := agent.TaskName(tk); got != "mon.2.abc" {
		t.Fatalf("replicated name %q", got)
	}
}

func TestRemovedNodeSaysWhy(t *testing.T) {
	st := newStore(t) // worker1 was never joined (or has been removed)
	m := newManager(t, st, nil)
	m.run()
	a, _ := startAgent(t, "worker1", []string{m.addr}, fake.New())
	waitFor(t, "session error", func() bool {
		err := a.SessionError()
		return err != nil && strings.Contains(err.Error(), "node worker1 not found: has it left the swarm?")
	})
}

// A node keeps its finished tasks assigned (the shutdown history): their
// runners must not keep a goroutine each, and must still wake when such a
// task changes.
func TestFinishedTasksHoldNoGoroutine(t *testing.T) {
	const n = 300
	st := newStore(t, "worker1")
	m := newManager(t, st, nil)
	m.run()
	ex := fake.New()
	a, _ := startAgent(t, "worker1", []string{m.addr}, ex)
	waitFor(t, "node ready", func() bool { return nodeState(st, "worker1") == api.NodeState_NODE_STATE_READY })
	base := runtime.NumGoroutine()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("done%03d", i)
	}
	assign(t, st, "worker1", "busybox-exit0", ids...)
	for _, id := range ids {
		waitState(t, st, id, api.TaskState_TASK_STATE_COMPLETE)
	}
	// Runners park once their task has finished and is reported.
	eventually.True(t, fmt.Sprintf("fewer than %d goroutines with %d finished tasks (%d before them), not one per finished task", base+n/10, n, base), func() bool {
		return runtime.NumGoroutine() < base+n/10
	})
	// The tasks are still this node's and still shown.
	if got := len(a.Tasks()); got != n {
		t.Fatalf("agent shows %d tasks, want %d", got, n)
	}
	// A parked runner wakes for a change of its task: removal deletes the
	// container it kept for `container ls -a`.
	ctx := context.Background()
	if _, err := ex.Inspect(ctx, agent.ContainerID("done007")); err != nil {
		t.Fatalf("finished task's container: %v", err)
	}
	setDesired(t, st, "done007", api.TaskState_TASK_STATE_REMOVE)
	waitFor(t, "container of a removed finished task deleted", func() bool {
		_, err := ex.Inspect(ctx, agent.ContainerID("done007"))
		return errors.Is(err, executor.ErrNotFound)
	})
	// And one that leaves the assignment set is forgotten.
	deleteTask(t, st, "done008")
	waitFor(t, "runner of a deleted task forgotten", func() bool { return len(a.Tasks()) == n-1 })
}

// An assignment set larger than gRPC's 4 MiB message limit reaches the
// worker whole (the dispatcher sends it in parts), instead of ending every
// session with "received message larger than max".
func TestAssignmentSetOverOneMessageArrivesWhole(t *testing.T) {
	const n = 2500
	st := newStore(t, "worker1")
	m := newManager(t, st, nil)
	m.run()
	pad := []string{"PAD=" + strings.Repeat("p", 2000)}
	ids := make([]string, n)
	err := st.Update(context.Background(), func(tx *store.Tx) error {
		for i := range ids {
			ids[i] = fmt.Sprintf("big%04d", i)
			if err := tx.Create(&api.Task{Id: ids[i], Meta: &api.Meta{}, ServiceId: "svc1", ServiceName: "web", Slot: uint64(i + 1), NodeId: "worker1",
				DesiredState: api.TaskState_TASK_STATE_RUNNING,
				Spec:         &api.TaskSpec{Container: &api.ContainerSpec{Image: "busybox-exit0", Env: pad}},
				Status:       &api.TaskStatus{State: api.TaskState_TASK_STATE_ASSIGNED}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := startAgent(t, "worker1", []string{m.addr}, fake.New())
	waitFor(t, "all tasks known to the worker", func() bool { return len(a.Tasks()) == n })
	// The session stays up: under heavy load one may expire on a late
	// heartbeat (200 ms period here) and be opened again, so only an error
	// about the set's size fails the test.
	waitFor(t, "session up", func() bool {
		err := a.SessionError()
		if err != nil && strings.Contains(err.Error(), "larger than max") {
			t.Fatalf("session: %v", err)
		}
		return err == nil
	})
}
