package dispatcher

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/minsw/minsw/internal/clock"
	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/internal/eventually"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// harness is a store, a running dispatcher and a client over a unix socket.
type harness struct {
	t      *testing.T
	st     *store.Store
	d      *Dispatcher
	client api.DispatcherClient
	clock  *clock.Fake
	cancel context.CancelFunc
	done   chan struct{}
}

func newHarness(t *testing.T, mutate func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, st: store.New(nil, nil), clock: clock.NewFake(time.Unix(1_700_000_000, 0))}
	cfg := DefaultConfig()
	cfg.Clock = h.clock
	cfg.Managers = func() []string { return []string{"10.0.0.1:2377"} }
	if mutate != nil {
		mutate(&cfg)
	}
	d, err := New(h.st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.d = d
	sock := filepath.Join(t.TempDir(), "d.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(errdefs.UnaryServerInterceptor), grpc.ChainStreamInterceptor(errdefs.StreamServerInterceptor))
	api.RegisterDispatcherServer(srv, d)
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient("unix:"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	h.client = api.NewDispatcherClient(conn)
	h.start()
	t.Cleanup(func() {
		h.stop()
		conn.Close()
		srv.Stop()
	})
	return h
}

func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan struct{})
	go func() { defer close(h.done); _ = h.d.Run(ctx) }()
	waitFor(h.t, "dispatcher running", func() bool { _, err := h.d.active(); return err == nil })
}

func (h *harness) stop() {
	if h.cancel != nil {
		h.cancel()
		<-h.done
		h.cancel = nil
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventually.True(t, what, cond)
}

func (h *harness) addNode(id string) {
	h.t.Helper()
	err := h.st.Update(context.Background(), func(tx *store.Tx) error {
		return tx.Create(&api.Node{Id: id, Meta: &api.Meta{}, Description: &api.NodeDescription{Hostname: id}})
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) node(id string) *api.Node {
	var n *api.Node
	h.st.View(func(tx store.ReadTx) { n = tx.Node(id) })
	return n
}

func (h *harness) task(id string) *api.Task {
	var t *api.Task
	h.st.View(func(tx store.ReadTx) { t = tx.Task(id) })
	return t
}

func newTask(id, node string, state api.TaskState) *api.Task {
	return &api.Task{
		Id: id, Meta: &api.Meta{}, ServiceId: "svc", ServiceName: "web", Slot: 1, NodeId: node,
		DesiredState: api.TaskState_TASK_STATE_RUNNING,
		Spec:         &api.TaskSpec{Container: &api.ContainerSpec{Image: "containous/whoami"}},
		Status:       &api.TaskStatus{State: state, Message: "assigned"},
	}
}

// session opens a session for node and returns the stream and first message.
func (h *harness) session(ctx context.Context, node string) (api.Dispatcher_SessionClient, *api.SessionMessage) {
	h.t.Helper()
	stream, err := h.client.Session(ctx, &api.SessionRequest{NodeId: node, Addr: "192.168.56.11", Description: &api.NodeDescription{Hostname: node, Os: "linux"}})
	if err != nil {
		h.t.Fatal(err)
	}
	m, err := stream.Recv()
	if err != nil {
		h.t.Fatal(err)
	}
	return stream, m
}

func TestSessionMarksNodeReady(t *testing.T) {
	h := newHarness(t, nil)
	h.addNode("worker1")
	h.st.Update(context.Background(), func(tx *store.Tx) error {
		return tx.Create(newTask("t1", "worker1", api.TaskState_TASK_STATE_ASSIGNED))
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, m := h.session(ctx, "worker1")
	if m.GetSessionId() == "" || m.GetNode().GetId() != "worker1" || m.GetHeartbeatPeriod().AsDuration() != 5*time.Second {
		t.Fatalf("first message %v", m)
	}
	if len(m.GetManagers()) != 1 || len(m.GetAssignments().GetTasks()) != 1 {
		t.Fatalf("managers %v tasks %d", m.GetManagers(), len(m.GetAssignments().GetTasks()))
	}
	n := h.node("worker1")
	if n.GetStatus().GetState() != api.NodeState_NODE_STATE_READY || n.GetStatus().GetAddr() != "192.168.56.11" || n.GetDescription().GetOs() != "linux" {
		t.Fatalf("node %v", n)
	}
}

// A node may not take, through its session, a hostname another node holds
// (it would receive tasks constrained to that node.hostname); a free one
// it may.
func TestSessionCannotTakeAnotherNodesHostname(t *testing.T) {
	h := newHarness(t, nil)
	h.addNode("manager1")
	h.addNode("worker1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	claim := func(hostname string) string {
		stream, err := h.client.Session(ctx, &api.SessionRequest{NodeId: "worker1", Description: &api.NodeDescription{Hostname: hostname, Os: "linux"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
		return h.node("worker1").GetDescription().GetHostname()
	}
	if got := claim("MANAGER1"); got != "worker1" {
		t.Fatalf("worker took the manager's hostname: %q", got)
	}
	if h.node("worker1").GetDescription().GetOs() != "linux" {
		t.Fatal("the rest of the description was dropped")
	}
	if got := claim("worker1-renamed"); got != "worker1-renamed" {
		t.Fatalf("a free hostname was refused: %q", got)
	}
}

func TestUnknownNodeIsToldItLeft(t *testing.T) {
	h := newHarness(t, nil)
	stream, err := h.client.Session(context.Background(), &api.SessionRequest{NodeId: "ghost"})
	if err == nil {
		_, err = stream.Recv()
	}
	if edgeCode(err) != codes.NotFound || edgeStatus(err).Message() != "node ghost not found: has it left the swarm?" {
		t.Fatalf("got %v", err)
	}
}

func TestFollowerNamesTheLeader(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.LeaderAddr = func() string { return "10.0.0.2:2377" } })
	h.addNode("worker1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, _ := h.session(ctx, "worker1")
	h.stop() // leadership lost
	_, err := stream.Recv()
	if edgeCode(err) != codes.Unavailable {
		t.Fatalf("open session after stop: %v", err)
	}
	stream, err = h.client.Session(ctx, &api.SessionRequest{NodeId: "worker1"})
	if err == nil {
		_, err = stream.Recv()
	}
	if edgeCode(err) != codes.FailedPrecondition {
		t.Fatalf("follower answered %v", err)
	}
	if addr, ok := LeaderFromError(err); !ok || addr != "10.0.0.2:2377" {
		t.Fatalf("leader from %v: %q %v", err, addr, ok)
	}
	_, err = h.client.Heartbeat(ctx, &api.HeartbeatRequest{NodeId: "worker1"})
	if edgeCode(err) != codes.FailedPrecondition {
		t.Fatalf("heartbeat on follower: %v", err)
	}
}

func TestMissedHeartbeatsMarkNodeDown(t *testing.T) {
	h := newHarness(t, nil)
	h.addNode("worker1")
	w := h.st.Watch(store.ForTables(store.TableNode))
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, m := h.session(ctx, "worker1")

	// Heartbeats every period keep it ready for well beyond the grace.
	for range 6 {
		h.clock.Advance(5 * time.Second)
		if _, err := h.client.Heartbeat(ctx, &api.HeartbeatRequest{NodeId: "worker1", SessionId: m.GetSessionId()}); err != nil {
			t.Fatal(err)
		}
	}
	if s := h.node("worker1").GetStatus().GetState(); s != api.NodeState_NODE_STATE_READY {
		t.Fatalf("node %v while heartbeating", s)
	}
	w.Drain()
	// Then silence for three periods.
	h.clock.Advance(10 * time.Second)
	eventually.Stays(t, 100*time.Millisecond, "the node ready after two silent periods", func() bool {
		return h.node("worker1").GetStatus().GetState() == api.NodeState_NODE_STATE_READY
	})
	h.clock.Advance(5 * time.Second)
	waitFor(t, "node down", func() bool { return h.node("worker1").GetStatus().GetState() == api.NodeState_NODE_STATE_DOWN })
	if msg := h.node("worker1").GetStatus().GetMessage(); msg != "heartbeat failure" {
		t.Fatalf("message %q", msg)
	}
	if _, err := stream.Recv(); edgeCode(err) != codes.Unavailable {
		t.Fatalf("session after expiry: %v", err)
	}
	// The store shows a write before it queues its event for watchers:
	// wait for the expiry's event, then for no second one.
	writes := 0
	waitFor(t, "the expiry's node write", func() bool {
		writes += len(w.Drain())
		return writes >= 1
	})
	eventually.Stays(t, 100*time.Millisecond, "one node write for the expiry", func() bool {
		writes += len(w.Drain())
		return writes <= 1
	})
	_, err := h.client.Heartbeat(ctx, &api.HeartbeatRequest{NodeId: "worker1", SessionId: m.GetSessionId()})
	if edgeCode(err) != codes.NotFound {
		t.Fatalf("heartbeat on expired session: %v", err)
	}
}

func TestHeartbeatPeriodFromCluster(t *testing.T) {
	h := newHarness(t, nil)
	h.addNode("worker1")
	h.st.Update(context.Background(), func(tx *store.Tx) error {
		return tx.Create(&api.Cluster{Id: "c", Meta: &api.Meta{}, Spec: &api.ClusterSpec{HeartbeatPeriod: durationpb.New(2 * time.Second)}})
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, m := h.session(ctx, "worker1")
	if p := m.GetHeartbeatPeriod().AsDuration(); p != 2*time.Second {
		t.Fatalf("period %v", p)
	}
	h.clock.Advance(6 * time.Second)
	waitFor(t, "node down after 3 cluster periods", func() bool { return h.node("worker1").GetStatus().GetState() == api.NodeState_NODE_STATE_DOWN })
}

func TestNodesOfTheOldLeaderGetOneGracePeriod(t *testing.T) {
	h := newHarness(t, nil)
	h.stop()
	h.addNode("worker1")
	h.st.Update(context.Background(), func(tx *store.Tx) error {
		n := proto.Clone(tx.Node("worker1")).(*api.Node)
		n.Status = &api.NodeStatus{State: api.NodeState_NODE_STATE_READY}
		return tx.Update(n)
	})
	h.start()
	h.clock.Advance(15 * time.Second)
	waitFor(t, "silent node down", func() bool { return h.node("worker1").GetStatus().GetState() == api.NodeState_NODE_STATE_DOWN })
}

// TestAssignmentBurstIsOneMessage: the scheduler placing 1000 tasks on a
// node in one write, or in ten quick ones, must not become 1000 messages.
// The session waits one AssignmentDelay after a change before it sends; the
// test makes that a second (the default is 10 ms, which a write descheduled
// on a loaded machine outlasts), so the ten writes fall within it however
// slowly they run, and every "no further message" wait outlasts it.
func TestAssignmentBurstIsOneMessage(t *testing.T) {
	const delay = time.Second
	h := newHarness(t, func(c *Config) { c.AssignmentDelay = delay })
	h.addNode("worker1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, _ := h.session(ctx, "worker1")
	msgs := make(chan *api.SessionMessage, 100)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				close(msgs)
				return
			}
			msgs <- m
		}
	}()
	collect := func(want int) int {
		n := 0
		for {
			select {
			case m := <-msgs:
				n++
				if len(m.GetAssignments().GetTasks()) == want {
					// drain anything trailing (a message comes at the
					// earliest one delay after the change it carries)
					select {
					case <-msgs:
						n++
					case <-time.After(delay + delay/2):
					}
					return n
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("no message with %d tasks", want)
			}
		}
	}
	err := h.st.Batch(ctx, 1000, 1000, func(tx *store.Tx, i int) error {
		return tx.Create(newTask(fmt.Sprintf("a%04d", i), "worker1", api.TaskState_TASK_STATE_ASSIGNED))
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := collect(1000); n != 1 {
		t.Errorf("one write of 1000 tasks: %d messages", n)
	}
	err = h.st.Batch(ctx, 1000, 100, func(tx *store.Tx, i int) error {
		return tx.Create(newTask(fmt.Sprintf("b%04d", i), "worker1", api.TaskState_TASK_STATE_ASSIGNED))
	})
	if err != nil {
		t.Fatal(err)
	}
	n := collect(2000)
	t.Logf("ten writes of 100 tasks: %d messages", n)
	if n > 3 {
		t.Errorf("ten writes of 100 tasks: %d messages", n)
	}
	// A status report from the worker changes nothing it needs to hear.
	h.st.Update(ctx, func(tx *store.Tx) error {
		tk := proto.Clone(tx.Task("a0000")).(*api.Task)
		tk.Status = &api.TaskStatus{State: api.TaskState_TASK_STATE_RUNNING}
		return tx.Update(tk)
	})
	select {
	case m := <-msgs:
		t.Errorf("status change resent %d tasks", len(m.GetAssignments().GetTasks()))
	case <-time.After(delay + delay/2):
	}
	// Shutting a task down does.
	h.st.Update(ctx, func(tx *store.Tx) error {
		tk := proto.Clone(tx.Task("a0000")).(*api.Task)
		tk.DesiredState = api.TaskState_TASK_STATE_SHUTDOWN
		return tx.Update(tk)
	})
	select {
	case m := <-msgs:
		if m.GetAssignments().GetTasks()[0].GetDesiredState() != api.TaskState_TASK_STATE_SHUTDOWN {
			t.Errorf("desired state not sent")
		}
	case <-time.After(5 * time.Second):
		t.Errorf("desired state change not sent")
	}
}

func TestTasksBeforeAssignedAreNotSent(t *testing.T) {
	h := newHarness(t, nil)
	h.addNode("worker1")
	h.st.Update(context.Background(), func(tx *store.Tx) error {
		if err := tx.Create(newTask("pending", "worker1", api.TaskState_TASK_STATE_PENDING)); err != nil {
			return err
		}
		if err := tx.Create(&api.Network{Id: "net1", Meta: &api.Meta{}, Spec: &api.NetworkSpec{Name: "mynet"}}); err != nil {
			return err
		}
		tk := newTask("t1", "worker1", api.TaskState_TASK_STATE_RUNNING)
		tk.Networks = []*api.NetworkAttachment{{NetworkId: "net1", Addresses: []string{"10.0.1.3/24"}}}
		return tx.Create(tk)
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, m := h.session(ctx, "worker1")
	as := m.GetAssignments()
	if len(as.GetTasks()) != 1 || as.GetTasks()[0].GetId() != "t1" || len(as.GetNetworks()) != 1 || as.GetNetworks()[0].GetId() != "net1" {
		t.Fatalf("assignments %v", as)
	}
}

// writeCounter counts store writes touching the task table: each write
// stamps its objects with one new version.
func taskWrites(st *store.Store, ids []string) int {
	versions := map[uint64]bool{}
	st.View(func(tx store.ReadTx) {
		for _, id := range ids {
			versions[tx.Task(id).GetMeta().GetVersion()] = true
		}
	})
	return len(versions)
}

// The batcher writes at once, then at most once per StatusBatchInterval:
// the test makes that a second (the default is 50 ms, which 100 calls
// outlast on a loaded machine, each write then carrying a few), so the
// calls, however slowly they arrive, are a first write and one or two more.
func TestStatusUpdatesFromTenNodesAreBatched(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.StatusBatchInterval = time.Second })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ids []string
	sessions := map[string]string{}
	h.st.Update(ctx, func(tx *store.Tx) error {
		for n := range 10 {
			node := fmt.Sprintf("worker%d", n)
			tx.Create(&api.Node{Id: node, Meta: &api.Meta{}})
			for i := range 10 {
				id := fmt.Sprintf("t%d-%d", n, i)
				ids = append(ids, id)
				tx.Create(newTask(id, node, api.TaskState_TASK_STATE_ASSIGNED))
			}
		}
		return nil
	})
	for n := range 10 {
		node := fmt.Sprintf("worker%d", n)
		_, m := h.session(ctx, node)
		sessions[node] = m.GetSessionId()
	}
	w := h.st.Watch(store.ForTables(store.TableTask))
	defer w.Close()
	var wg sync.WaitGroup
	start := time.Now()
	for n := range 10 {
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				node := fmt.Sprintf("worker%d", n)
				_, err := h.client.UpdateTaskStatus(ctx, &api.UpdateTaskStatusRequest{
					NodeId: node, SessionId: sessions[node],
					Updates: []*api.TaskStatusUpdate{{TaskId: fmt.Sprintf("t%d-%d", n, i), Status: &api.TaskStatus{State: api.TaskState_TASK_STATE_RUNNING, Message: "started"}}},
				})
				if err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	writes := taskWrites(h.st, ids)
	t.Logf("100 status updates from 10 nodes: %d store writes in %v", writes, elapsed)
	if writes > 4 {
		t.Errorf("%d store writes for 100 updates", writes)
	}
	for _, id := range ids {
		if s := h.task(id).GetStatus().GetState(); s != api.TaskState_TASK_STATE_RUNNING {
			t.Fatalf("task %s %v", id, s)
		}
	}
	if n := len(w.Drain()); n != 100 {
		t.Fatalf("%d task events, want 100", n)
	}
}

func TestStatusNeverMovesBackwards(t *testing.T) {
	h := newHarness(t, nil)
	h.addNode("worker1")
	h.addNode("worker2")
	h.st.Update(context.Background(), func(tx *store.Tx) error {
		tx.Create(newTask("t1", "worker1", api.TaskState_TASK_STATE_RUNNING))
		return tx.Create(newTask("t2", "worker2", api.TaskState_TASK_STATE_RUNNING))
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, m := h.session(ctx, "worker1")
	update := func(task string, state api.TaskState) error {
		_, err := h.client.UpdateTaskStatus(ctx, &api.UpdateTaskStatusRequest{
			NodeId: "worker1", SessionId: m.GetSessionId(),
			Updates: []*api.TaskStatusUpdate{{TaskId: task, Status: &api.TaskStatus{State: state}}},
		})
		return err
	}
	if err := update("t1", api.TaskState_TASK_STATE_ACCEPTED); err != nil {
		t.Fatal(err)
	}
	if s := h.task("t1").GetStatus().GetState(); s != api.TaskState_TASK_STATE_RUNNING {
		t.Fatalf("moved back to %v", s)
	}
	if err := update("t2", api.TaskState_TASK_STATE_FAILED); edgeCode(err) != codes.PermissionDenied {
		t.Fatalf("other node's task: %v", err)
	}
	// A report for a task the store does not hold is refused and counted
	// (a deleted task, or a worker making one up).
	before := h.d.UnknownTaskReports()
	if err := update("gone", api.TaskState_TASK_STATE_FAILED); edgeCode(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "task gone is not known to this swarm") {
		t.Fatalf("unknown task: %v", err)
	}
	if got := h.d.UnknownTaskReports() - before; got != 1 {
		t.Fatalf("unknown task reports counted: %d", got)
	}
	if h.task("gone") != nil {
		t.Fatal("a report made a task")
	}
	_, err := h.client.UpdateTaskStatus(ctx, &api.UpdateTaskStatusRequest{NodeId: "worker1", SessionId: "bogus"})
	if edgeCode(err) != codes.NotFound {
		t.Fatalf("bad session: %v", err)
	}
	if err := update("t1", api.TaskState_TASK_STATE_COMPLETE); err != nil || h.task("t1").GetStatus().GetState() != api.TaskState_TASK_STATE_COMPLETE {
		t.Fatalf("forward: %v %v", err, h.task("t1").GetStatus())
	}
}

func TestConfigValidate(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"zero heartbeat period": func(c *Config) { c.HeartbeatPeriod = 0 },
		"no grace":              func(c *Config) { c.HeartbeatGrace = 0 },
		"empty batches":         func(c *Config) { c.StatusBatchSize = 0 },
	} {
		cfg := DefaultConfig()
		mutate(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}
