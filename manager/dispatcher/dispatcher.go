// Package dispatcher keeps one session per worker on the leader: it marks
// nodes ready and down (heartbeats), streams each node the full set of
// tasks and networks assigned to it whenever that set changes, and writes
// the workers' task status reports to the store in batches. It never creates
// or deletes tasks and never moves a task's state backwards; restart policy
// and rescheduling belong to the orchestrator.
package dispatcher

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/minsw/minsw/internal/clock"
	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Messages a worker may see, kept stable for tests and logs.
const (
	msgHeartbeatFailure = "heartbeat failure"
)

var (
	errStopped  = errors.New("dispatcher stopped: this manager is no longer the leader")
	errReplaced = errors.New("session replaced by a newer session of the same node")
	errExpired  = errors.New("session expired: heartbeat failure")
)

// Dispatcher implements api.DispatcherServer. Register it on every manager;
// Run it only while this manager leads. When it does not run, every call is
// answered with NotLeaderError.
type Dispatcher struct {
	api.UnimplementedDispatcherServer

	st    *store.Store
	cfg   Config
	clock clock.Clock
	log   *slog.Logger

	mu     sync.Mutex
	run    *runState
	cancel context.CancelFunc
	done   chan struct{}

	// unknownTaskReports counts status reports for tasks the store does
	// not hold (a deleted task, or a node making them up).
	unknownTaskReports atomic.Int64
}

// UnknownTaskReports is how many task status reports named a task the
// store does not hold since the dispatcher was made.
func (d *Dispatcher) UnknownTaskReports() int64 { return d.unknownTaskReports.Load() }

// New returns a dispatcher over st; it serves nothing until Run.
func New(st *store.Store, cfg Config) (*Dispatcher, error) {
	if st == nil {
		return nil, fmt.Errorf("dispatcher: no store")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Dispatcher{st: st, cfg: cfg, clock: cfg.Clock, log: cfg.Logger}
	if d.clock == nil {
		d.clock = clock.Real()
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	return d, nil
}

// runState is one leadership term's state; a new Run starts afresh.
type runState struct {
	d   *Dispatcher
	ctx context.Context

	mu        sync.Mutex
	closed    bool
	sessions  map[string]*session  // by node ID
	deadlines map[string]time.Time // by node ID: when the node is marked down
	kick      chan struct{}        // the earliest deadline may have moved
	batcher   *statusBatcher
}

type session struct {
	id     string
	nodeID string
	notify chan struct{} // cap 1: the node's assignments may have changed
	cancel context.CancelCauseFunc
	done   <-chan struct{} // closed when the session ends

	// incremental: the worker takes incremental sets; then changed (the
	// tasks that changed since the last message) and complete (the store
	// was reset: send the whole set) are kept for it, guarded by
	// runState.mu.
	incremental bool
	changed     map[string]struct{}
	complete    bool
}

// Run serves sessions until ctx ends or Stop is called; then every session
// ends (the workers reconnect to the next leader) and Run returns nil.
func (d *Dispatcher) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &runState{
		d: d, ctx: ctx,
		sessions:  map[string]*session{},
		deadlines: map[string]time.Time{},
		kick:      make(chan struct{}, 1),
	}
	r.batcher = newStatusBatcher(d.st, d.cfg.StatusBatchInterval, d.cfg.StatusBatchSize, d.log)
	// Watch before serving, so no change after a session's first message
	// is missed.
	w := d.st.Watch(store.ForTables(store.TableTask, store.TableNetwork, store.TableNode, store.TableCluster))
	defer w.Close()

	// Nodes that were ready under the previous leader get one grace period
	// to open a session here before they are marked down.
	now := d.clock.Now()
	grace := d.grace()
	d.st.View(func(tx store.ReadTx) {
		for _, n := range tx.Nodes() {
			if s := n.GetStatus().GetState(); s != api.NodeState_NODE_STATE_DOWN {
				r.deadlines[n.GetId()] = now.Add(grace)
			}
		}
	})

	done := make(chan struct{})
	d.mu.Lock()
	if d.run != nil {
		d.mu.Unlock()
		return fmt.Errorf("dispatcher: already running")
	}
	d.run, d.cancel, d.done = r, cancel, done
	d.mu.Unlock()
	defer close(done)

	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); r.batcher.run(ctx) }()
	go func() { defer wg.Done(); r.expireLoop(ctx) }()
	go func() { defer wg.Done(); r.watchLoop(ctx, w) }()
	d.log.Info("dispatcher started")
	<-ctx.Done()

	d.mu.Lock()
	d.run, d.cancel = nil, nil
	d.mu.Unlock()
	r.mu.Lock()
	r.closed = true
	for _, s := range r.sessions {
		s.cancel(errStopped)
	}
	r.mu.Unlock()
	wg.Wait()
	d.log.Info("dispatcher stopped")
	return nil
}

// Stop ends Run (if running) and waits for it to return.
func (d *Dispatcher) Stop() {
	d.mu.Lock()
	cancel, done := d.cancel, d.done
	d.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

func (d *Dispatcher) active() (*runState, error) {
	d.mu.Lock()
	r := d.run
	d.mu.Unlock()
	if r == nil {
		leader := ""
		if d.cfg.LeaderAddr != nil {
			leader = d.cfg.LeaderAddr()
		}
		return nil, NotLeaderError(leader)
	}
	return r, nil
}

// period is the heartbeat period workers must keep: the cluster's setting,
// else the configured one.
func (d *Dispatcher) period() time.Duration {
	p := d.cfg.HeartbeatPeriod
	d.st.View(func(tx store.ReadTx) {
		if c := tx.Cluster(); c != nil {
			if cp := c.GetSpec().GetHeartbeatPeriod().AsDuration(); cp > 0 {
				p = cp
			}
		}
	})
	return p
}

func (d *Dispatcher) grace() time.Duration {
	return d.period() * time.Duration(d.cfg.HeartbeatGrace)
}

func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Session registers the node (status READY), sends it its first message and
// then a new full assignment set each time the set changes, until the
// worker goes away, the session is replaced or expires, or Run ends.
func (d *Dispatcher) Session(req *api.SessionRequest, stream api.Dispatcher_SessionServer) error {
	r, err := d.active()
	if err != nil {
		return err
	}
	nodeID := req.GetNodeId()
	if nodeID == "" {
		return errdefs.InvalidArgument("session: no node ID given")
	}
	addr := req.GetAddr()
	if addr == "" {
		if p, ok := peer.FromContext(stream.Context()); ok && p.Addr != nil {
			if host, _, err := net.SplitHostPort(p.Addr.String()); err == nil {
				addr = host
			}
		}
	}

	ctx, cancel := context.WithCancelCause(stream.Context())
	defer cancel(nil)
	s := &session{id: newSessionID(), nodeID: nodeID, notify: make(chan struct{}, 1), cancel: cancel, done: ctx.Done(),
		incremental: req.GetIncrementalAssignments(), changed: map[string]struct{}{}}
	// Register before the node write so no change after it is missed; the
	// fingerprint drops the duplicate message this may cause.
	if err := r.addSession(s); err != nil {
		return err
	}
	defer r.removeSession(s)
	if err := r.registerNode(ctx, req, addr); err != nil {
		return err
	}
	log := d.log.With("node", nodeID, "session", s.id)
	log.Info("session opened", "addr", addr)

	var last uint64
	var held *holding
	if s.incremental {
		held = newHolding(0)
	}
	send := func(first bool) error {
		var m *api.SessionMessage
		var err error
		if held != nil {
			r.mu.Lock()
			changed, complete := s.changed, first || s.complete
			s.changed, s.complete = map[string]struct{}{}, false
			r.mu.Unlock()
			m, err = d.incrementalMessage(nodeID, held, complete, changed)
		} else {
			m, err = d.message(nodeID, assignments)
		}
		if err != nil {
			return err
		}
		// An incremental set with task changes always goes; otherwise a
		// message identical to the last (by object versions) is not sent.
		fp := fingerprint(m, held == nil)
		if !first && fp == last && (held == nil || len(m.GetAssignments().GetTasks())+len(m.GetAssignments().GetRemovedTasks()) == 0) {
			return nil
		}
		last = fp
		m.SessionId = s.id
		for _, part := range splitMessage(m, messageBudget) {
			if err := stream.Send(part); err != nil {
				return err
			}
		}
		return nil
	}
	if err := send(true); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return sessionEnd(ctx, log)
		case <-r.ctx.Done():
			return errdefs.Unavailable("%s", errStopped.Error())
		case <-s.notify:
		}
		if dl := d.cfg.AssignmentDelay; dl > 0 {
			t := time.NewTimer(dl)
			select {
			case <-ctx.Done():
				t.Stop()
				return sessionEnd(ctx, log)
			case <-t.C:
			}
			select {
			case <-s.notify:
			default:
			}
		}
		if err := send(false); err != nil {
			return err
		}
	}
}

func sessionEnd(ctx context.Context, log *slog.Logger) error {
	cause := context.Cause(ctx)
	log.Info("session closed", "reason", cause)
	switch {
	case errors.Is(cause, errExpired), errors.Is(cause, errReplaced), errors.Is(cause, errStopped):
		return errdefs.Unavailable("%s", cause.Error())
	}
	return status.FromContextError(ctx.Err()).Err()
}

// message reads the node's current session message (without session ID),
// its assignments made by build.
func (d *Dispatcher) message(nodeID string, build func(tx store.ReadTx, node *api.Node) *api.Assignments) (*api.SessionMessage, error) {
	m := &api.SessionMessage{HeartbeatPeriod: durationpb.New(d.period())}
	var err error
	d.st.View(func(tx store.ReadTx) {
		node := tx.Node(nodeID)
		if node == nil {
			err = errdefs.NotFound("node %s not found: has it left the swarm?", nodeID)
			return
		}
		m.Node = node
		m.Assignments = build(tx, node)
		if c := tx.Cluster(); c != nil {
			m.GossipKeys = c.GetGossipKeys()
		}
	})
	if err != nil {
		return nil, err
	}
	if d.cfg.Managers != nil {
		m.Managers = d.cfg.Managers()
	}
	if d.cfg.ManagerIDs != nil {
		m.ManagerIds = d.cfg.ManagerIDs()
	}
	return m, nil
}

// registerNode marks the node ready with its address and description.
func (r *runState) registerNode(ctx context.Context, req *api.SessionRequest, addr string) error {
	nodeID := req.GetNodeId()
	return retryConflict(func() error {
		return r.d.st.Update(ctx, func(tx *store.Tx) error {
			cur := tx.Node(nodeID)
			if cur == nil {
				return errdefs.NotFound("node %s not found: has it left the swarm?", nodeID)
			}
			n := proto.Clone(cur).(*api.Node)
			if n.Status == nil {
				n.Status = &api.NodeStatus{}
			}
			n.Status.State = api.NodeState_NODE_STATE_READY
			n.Status.Message = ""
			if addr != "" {
				n.Status.Addr = addr
			}
			if req.GetDescription() != nil {
				n.Description = keepHostname(tx, cur, req.GetDescription(), r.d.log)
			}
			if proto.Equal(n, cur) {
				return nil
			}
			return tx.Update(n)
		})
	})
}

// keepHostname is the description a session reports, except that a node
// may not take a hostname another node holds (it would receive the tasks
// constrained to that node.hostname): it keeps the one it has.
func keepHostname(tx *store.Tx, cur *api.Node, desc *api.NodeDescription, log *slog.Logger) *api.NodeDescription {
	want, have := desc.GetHostname(), cur.GetDescription().GetHostname()
	if strings.EqualFold(want, have) {
		return desc
	}
	for _, other := range tx.Nodes() {
		if other.GetId() != cur.GetId() && strings.EqualFold(other.GetDescription().GetHostname(), want) {
			log.Warn("node reported a hostname another node holds; keeping its own", "node", cur.GetId(), "hostname", have, "claimed", want, "holder", other.GetId())
			d := proto.Clone(desc).(*api.NodeDescription)
			d.Hostname = have
			return d
		}
	}
	return desc
}

// retryConflict retries fn while it loses optimistic races.
func retryConflict(fn func() error) error {
	var err error
	for range 10 {
		if err = fn(); !errdefs.Is(err, errdefs.KindConflict) {
			return err
		}
	}
	return err
}

func (r *runState) addSession(s *session) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errdefs.Unavailable("%s", errStopped.Error())
	}
	if old := r.sessions[s.nodeID]; old != nil {
		old.cancel(errReplaced)
	}
	r.sessions[s.nodeID] = s
	r.deadlines[s.nodeID] = r.d.clock.Now().Add(r.d.grace())
	r.kickLocked()
	return nil
}

// removeSession forgets s but keeps the node's deadline: a worker that went
// away is marked down only when it has been silent for the grace period,
// so a quick reconnect does not flap it.
func (r *runState) removeSession(s *session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sessions[s.nodeID] == s {
		delete(r.sessions, s.nodeID)
	}
}

func (r *runState) kickLocked() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// checkSession returns the node's live session with that ID.
func (r *runState) checkSession(nodeID, sessionID string) (*session, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sessions[nodeID]
	if s == nil || s.id != sessionID {
		return nil, errdefs.NotFound("session %s of node %s is not valid: open a new session", sessionID, nodeID)
	}
	return s, nil
}

// Heartbeat pushes the node's deadline one grace period ahead.
func (d *Dispatcher) Heartbeat(ctx context.Context, req *api.HeartbeatRequest) (*api.HeartbeatResponse, error) {
	r, err := d.active()
	if err != nil {
		return nil, err
	}
	period := d.period()
	r.mu.Lock()
	s := r.sessions[req.GetNodeId()]
	if s == nil || s.id != req.GetSessionId() {
		r.mu.Unlock()
		return nil, errdefs.NotFound("session %s of node %s is not valid: open a new session", req.GetSessionId(), req.GetNodeId())
	}
	r.deadlines[s.nodeID] = d.clock.Now().Add(period * time.Duration(d.cfg.HeartbeatGrace))
	r.mu.Unlock()
	return &api.HeartbeatResponse{Period: durationpb.New(period)}, nil
}

// UpdateTaskStatus queues the node's reports for the next batch write and
// returns once that write is done, so a worker resends what failed.
func (d *Dispatcher) UpdateTaskStatus(ctx context.Context, req *api.UpdateTaskStatusRequest) (*api.UpdateTaskStatusResponse, error) {
	r, err := d.active()
	if err != nil {
		return nil, err
	}
	nodeID := req.GetNodeId()
	if _, err := r.checkSession(nodeID, req.GetSessionId()); err != nil {
		return nil, err
	}
	var (
		bad     error
		known   []*api.TaskStatusUpdate
		unknown []string
		foreign []string
	)
	d.st.View(func(tx store.ReadTx) {
		for _, u := range req.GetUpdates() {
			if u.GetStatus() == nil {
				bad = errdefs.InvalidArgument("task %s: no status given", u.GetTaskId())
				return
			}
			t := tx.Task(u.GetTaskId())
			if t == nil {
				unknown = append(unknown, u.GetTaskId())
				continue
			}
			if t.GetNodeId() != nodeID {
				foreign = append(foreign, u.GetTaskId())
				continue
			}
			known = append(known, u)
		}
	})
	if bad != nil {
		return nil, bad
	}
	// Reports for tasks the store does not hold, or that another node
	// holds, are refused (and counted); the others in the same request are
	// still recorded: a worker sends up to 1,000 at a time and drops a
	// refused request whole.
	var refused error
	if len(foreign) > 0 {
		d.log.Warn("task status for another node's tasks refused", "node", nodeID, "tasks", len(foreign), "first", foreign[0])
		refused = errdefs.PermissionDenied("task %s is not assigned to node %s", foreign[0], nodeID)
	}
	if len(unknown) > 0 {
		d.unknownTaskReports.Add(int64(len(unknown)))
		d.log.Warn("task status for unknown tasks refused", "node", nodeID, "tasks", len(unknown), "first", unknown[0])
		// InvalidArgument: the agent drops what the manager will never take
		// instead of resending it.
		if refused == nil {
			refused = errdefs.InvalidArgument("task %s is not known to this swarm (removed?): its status was not recorded", unknown[0])
		}
	}
	if len(known) == 0 {
		if refused != nil {
			return nil, refused
		}
		return &api.UpdateTaskStatusResponse{}, nil
	}
	b, err := r.batcher.add(nodeID, known)
	if err != nil {
		return nil, err
	}
	select {
	case <-b.done:
		if b.err != nil {
			return nil, b.err
		}
		if refused != nil {
			return nil, refused
		}
		return &api.UpdateTaskStatusResponse{}, nil
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// watchLoop wakes the sessions whose assignments a store change concerns.
func (r *runState) watchLoop(ctx context.Context, w *store.Watcher) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.C:
		}
		var a affected
		for _, e := range w.Drain() {
			a.collect(e)
		}
		r.mu.Lock()
		for nodeID, s := range r.sessions {
			if _, ok := a.nodes[nodeID]; ok || a.all {
				if s.incremental {
					s.complete = s.complete || a.reset
					for id := range a.tasks[nodeID] {
						s.changed[id] = struct{}{}
					}
				}
				select {
				case s.notify <- struct{}{}:
				default:
				}
			}
		}
		r.mu.Unlock()
	}
}

// expireLoop marks nodes down when their deadline passes, all nodes expiring
// together in one write, and ends their sessions.
func (r *runState) expireLoop(ctx context.Context) {
	for {
		r.mu.Lock()
		var next time.Time
		for _, dl := range r.deadlines {
			if next.IsZero() || dl.Before(next) {
				next = dl
			}
		}
		r.mu.Unlock()
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(r.d.clock.Now()), 0)
		}
		t := r.d.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-r.kick:
			t.Stop()
			continue
		case <-t.C():
		}
		now := r.d.clock.Now()
		var expired []string
		r.mu.Lock()
		for nodeID, dl := range r.deadlines {
			if !dl.After(now) {
				expired = append(expired, nodeID)
				delete(r.deadlines, nodeID)
				if s := r.sessions[nodeID]; s != nil {
					s.cancel(errExpired)
					delete(r.sessions, nodeID)
				}
			}
		}
		r.mu.Unlock()
		if len(expired) > 0 {
			if err := r.markDown(ctx, expired); err != nil && ctx.Err() == nil {
				r.d.log.Error("mark nodes down", "nodes", expired, "err", err)
			}
		}
	}
}

func (r *runState) markDown(ctx context.Context, nodeIDs []string) error {
	return retryConflict(func() error {
		return r.d.st.Update(ctx, func(tx *store.Tx) error {
			for _, id := range nodeIDs {
				r.mu.Lock()
				_, back := r.deadlines[id] // it opened a new session meanwhile
				r.mu.Unlock()
				cur := tx.Node(id)
				if back || cur == nil || cur.GetStatus().GetState() == api.NodeState_NODE_STATE_DOWN {
					continue
				}
				n := proto.Clone(cur).(*api.Node)
				if n.Status == nil {
					n.Status = &api.NodeStatus{}
				}
				n.Status.State = api.NodeState_NODE_STATE_DOWN
				n.Status.Message = msgHeartbeatFailure
				if err := tx.Update(n); err != nil {
					return err
				}
				r.d.log.Warn("node down", "node", id, "reason", msgHeartbeatFailure)
			}
			return nil
		})
	})
}
