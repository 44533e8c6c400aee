// Package agent is the worker side of the dispatcher protocol: it keeps one
// session with the leader (following redirects, reconnecting to another
// manager on loss), runs every task assigned to its node through the
// executor, moving each only forward, and reports their status in batches.
// After a restart it adopts the containers of tasks still assigned and
// removes the rest. It owns no networking (the Network it is given does)
// and never decides placement or restarts: the managers do.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/clock"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/executor"
)

// Agent runs one node's tasks. Create it with New and call Run once.
type Agent struct {
	cfg   Config
	clock clock.Clock
	log   *slog.Logger
	rep   *reporter

	mu       sync.Mutex
	node     *api.Node
	networks []*api.Network
	// gossipKeys are the swarm's memberlist keys, primary first.
	gossipKeys [][]byte
	// managerIDs are the current managers' node IDs, as the last session
	// message named them.
	managerIDs []string
	managers   []string
	leader     string
	lastErr    error // why the last session ended or was refused
	sess       *activeSession
	sessCh     chan struct{}              // closed when sess changes
	changed    chan struct{}              // closed when the node's view changes
	runners    map[string]*taskRunner     // by task ID
	byCtr      map[string]*taskRunner     // by container ID
	orphans    map[string]executor.Status // containers found at start, by ID
	swept      bool                       // orphans handled after the first set
	runCtx     context.Context
	wg         sync.WaitGroup // runners and clean-ups
	files      fileStore      // secrets and configs of the assignment set (storage.go)
}

// activeSession is what status reports need of the current session.
type activeSession struct {
	client api.DispatcherClient
	id     string
	addr   string
	end    context.CancelCauseFunc
}

// New checks cfg and returns an agent that has not connected yet.
func New(cfg Config) (*Agent, error) {
	if cfg.Network == nil {
		cfg.Network = NoopNetwork{}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Agent{
		cfg:      cfg,
		clock:    cfg.Clock,
		log:      cfg.Logger,
		managers: append([]string(nil), cfg.Managers...),
		sessCh:   make(chan struct{}),
		changed:  make(chan struct{}),
		runners:  map[string]*taskRunner{},
		byCtr:    map[string]*taskRunner{},
	}
	if a.clock == nil {
		a.clock = clock.Real()
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.log = a.log.With("node", cfg.NodeID)
	a.rep = newReporter(a)
	return a, nil
}

// Run keeps the session and the tasks going until ctx ends. Containers are
// left running when it returns: a restarted agent adopts them.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := a.cfg.Executor.Events(ctx)
	if err != nil {
		return fmt.Errorf("agent: watch executor events: %w", err)
	}
	list, err := a.cfg.Executor.List(ctx)
	if err != nil {
		return fmt.Errorf("agent: list containers: %w", err)
	}
	a.mu.Lock()
	if a.runCtx != nil {
		a.mu.Unlock()
		return errors.New("agent: Run called twice")
	}
	a.runCtx = ctx
	a.orphans = map[string]executor.Status{}
	for _, c := range list {
		if c.Labels[LabelTaskID] != "" {
			a.orphans[c.ID] = c
		}
	}
	a.mu.Unlock()

	var loops sync.WaitGroup
	loops.Add(3)
	go func() { defer loops.Done(); a.eventLoop(ctx, events) }()
	go func() { defer loops.Done(); a.rep.run(ctx) }()
	go func() { defer loops.Done(); a.sessionLoop(ctx) }()
	<-ctx.Done()
	loops.Wait()
	a.wg.Wait()
	return nil
}

// eventLoop wakes the task whose container changed, and every running task
// now and then in case an event was lost.
func (a *Agent) eventLoop(ctx context.Context, events <-chan executor.Event) {
	resync := a.clock.NewTimer(a.cfg.ResyncInterval)
	defer func() { resync.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return
		case <-resync.C():
			a.wakeAll()
			resync = a.clock.NewTimer(a.cfg.ResyncInterval)
		case ev, ok := <-events:
			if ok {
				a.mu.Lock()
				r := a.byCtr[ev.ID]
				a.mu.Unlock()
				if r != nil {
					r.poke()
				}
				continue
			}
			// The executor stopped delivering: subscribe again, then let
			// every task look at its container.
			delay := a.cfg.ReconnectDelay
			for {
				if !sleep(ctx, a.clock, delay) {
					return
				}
				var err error
				if events, err = a.cfg.Executor.Events(ctx); err == nil {
					break
				}
				a.log.Warn("executor events", "err", err)
				delay = min(2*delay, a.cfg.MaxReconnectDelay)
			}
			a.wakeAll()
		}
	}
}

func (a *Agent) wakeAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.runners {
		r.poke()
	}
}

// assign reconciles the runners with a full assignment set.
func (a *Agent) assign(tasks []*api.Task) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ctx := a.runCtx
	if ctx.Err() != nil {
		return
	}
	seen := make(map[string]struct{}, len(tasks))
	for _, t := range tasks {
		if t.GetNodeId() != a.cfg.NodeID {
			continue
		}
		seen[t.GetId()] = struct{}{}
		a.putLocked(t)
	}
	for id, r := range a.runners {
		if _, ok := seen[id]; !ok {
			r.drop()
			a.unparkLocked(r)
		}
	}
	if !a.swept {
		a.swept = true
		for id, c := range a.orphans {
			a.log.Info("removing container of a task no longer assigned", "task", c.Labels[LabelTaskID], "container", id[:12])
			a.wg.Add(1)
			go func() { defer a.wg.Done(); a.removeContainer(ctx, id, a.cfg.StopGracePeriod) }()
		}
		a.orphans = nil
	}
}

// assignChanges applies an incremental set: tasks added or changed, and
// the IDs of tasks that left the set. Nothing else is touched: a node with
// 25,000 tasks is not walked for each task placed on it.
func (a *Agent) assignChanges(tasks []*api.Task, removed []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.runCtx.Err() != nil {
		return
	}
	for _, t := range tasks {
		if t.GetNodeId() == a.cfg.NodeID {
			a.putLocked(t)
		} else if r := a.runners[t.GetId()]; r != nil {
			r.drop() // it moved to another node
			a.unparkLocked(r)
		}
	}
	for _, id := range removed {
		if r := a.runners[id]; r != nil {
			r.drop()
			a.unparkLocked(r)
		}
	}
}

// putLocked hands t to its runner, making and starting one for a task the
// node did not run yet.
func (a *Agent) putLocked(t *api.Task) {
	if r := a.runners[t.GetId()]; r != nil {
		if r.update(t) {
			a.unparkLocked(r)
		}
		return
	}
	r := newTaskRunner(a, t)
	a.runners[t.GetId()] = r
	a.byCtr[r.ctrID] = r
	delete(a.orphans, r.ctrID)
	a.startLocked(r)
}

// startLocked runs r's goroutine.
func (a *Agent) startLocked(r *taskRunner) {
	ctx := a.runCtx
	a.wg.Add(1)
	go func() { defer a.wg.Done(); r.run(ctx) }()
}

// park ends the goroutine of a runner whose task has finished, unless a
// change is already waiting for it: a node keeps its tasks' shutdown
// history assigned (thousands of finished tasks), and a goroutine each
// would be spent on nothing. The runner stays known (its status is still
// reported); a change of its task starts it again (unparkLocked). It
// reports whether the goroutine must end.
func (a *Agent) park(r *taskRunner) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	select {
	case <-r.wake:
		r.poke() // a change came in meanwhile: keep going
		return false
	default:
	}
	r.parked = true
	return true
}

// unparkLocked starts a parked runner again after a change to its task.
func (a *Agent) unparkLocked(r *taskRunner) {
	if r.parked && a.runCtx.Err() == nil {
		r.parked = false
		a.startLocked(r)
	}
}

// forget removes a finished runner (one whose task left the set).
func (a *Agent) forget(r *taskRunner) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.runners[r.id] == r {
		delete(a.runners, r.id)
		delete(a.byCtr, r.ctrID)
	}
	a.notifyLocked()
}

// removeContainer stops and removes a container; a missing one is fine.
func (a *Agent) removeContainer(ctx context.Context, id string, grace time.Duration) (err error) {
	st, _ := a.cfg.Executor.Inspect(ctx, id) // its labels name its anonymous volumes
	defer func() {
		if err == nil {
			a.removeAnonymousVolumes(st.Labels)
		}
	}()
	if err := a.cfg.Executor.Stop(ctx, id, grace); err != nil && !errors.Is(err, executor.ErrNotFound) {
		a.log.Warn("stop container", "container", id[:12], "err", err)
	}
	if err := a.cfg.Executor.Remove(ctx, id); err != nil && !errors.Is(err, executor.ErrNotFound) {
		a.log.Warn("remove container", "container", id[:12], "err", err)
		return err
	}
	return nil
}

func (a *Agent) notifyLocked() {
	close(a.changed)
	a.changed = make(chan struct{})
}

func (a *Agent) notify() {
	a.mu.Lock()
	a.notifyLocked()
	a.mu.Unlock()
}

// Changed returns a channel closed at the next change of what Node,
// Networks, Tasks or Leader return; call it again after each wake-up.
func (a *Agent) Changed() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.changed
}

// Node returns the node object the last session message carried (nil
// before the first session). The daemon reads its role and lb attachments.
func (a *Agent) Node() *api.Node {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.node == nil {
		return nil
	}
	return proto.Clone(a.node).(*api.Node)
}

// Networks returns the networks the node's tasks and lb endpoints use, as
// the last session message carried them.
func (a *Agent) Networks() []*api.Network {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*api.Network, len(a.networks))
	for i, n := range a.networks {
		out[i] = proto.Clone(n).(*api.Network)
	}
	return out
}

// Tasks returns the node's own view: every task it holds, with the latest
// status it knows (reported or about to be), sorted by ID. The tasks share
// their parts with the agent's: read them, never change them.
func (a *Agent) Tasks() []*api.Task {
	a.mu.Lock()
	rs := make([]*taskRunner, 0, len(a.runners))
	for _, r := range a.runners {
		rs = append(rs, r)
	}
	a.mu.Unlock()
	out := make([]*api.Task, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.view())
	}
	slices.SortFunc(out, func(x, y *api.Task) int { return strings.Compare(x.Id, y.Id) })
	return out
}

// ManagerIDs returns the node IDs of the current managers as the last
// session message named them (nil before one did): the daemon dials as a
// manager only a certificate naming one of them.
func (a *Agent) ManagerIDs() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.managerIDs...)
}

// GossipKeys returns the swarm's gossip encryption keys as the last
// session message carried them, the primary (sending) key first; nil before
// the first session. The daemon hands them to gossip (Keyring/SetKeys) and
// calls again after each Changed wake-up: the leader rotates them.
func (a *Agent) GossipKeys() [][]byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([][]byte, len(a.gossipKeys))
	for i, k := range a.gossipKeys {
		out[i] = append([]byte(nil), k...)
	}
	return out
}

// Leader returns the address of the manager the session is with ("" while
// there is none).
func (a *Agent) Leader() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.leader
}

// SessionError says why the agent has no session right now (the last
// session's end or refusal, e.g. "node X not found: has it left the
// swarm?"); nil while a session is open.
func (a *Agent) SessionError() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sess != nil {
		return nil
	}
	return a.lastErr
}

// networksFor returns the known networks task t attaches to.
func (a *Agent) networksFor(t *api.Task) []*api.Network {
	want := map[string]bool{}
	for _, na := range t.GetNetworks() {
		want[na.GetNetworkId()] = true
	}
	for _, nc := range t.GetSpec().GetNetworks() {
		want[nc.GetTarget()] = true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []*api.Network
	for _, n := range a.networks {
		if want[n.GetId()] {
			out = append(out, n)
		}
	}
	return out
}
