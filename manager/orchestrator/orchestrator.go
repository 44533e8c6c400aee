// Package orchestrator makes the tasks a service's spec asks for, on the
// leader: one task per slot for replicated services, one per eligible node
// for global ones; it replaces tasks that ended (restart policy), that sit
// on nodes that are down or drained, and deletes old tasks beyond the
// history limit. Tasks on an old spec are the updater's (package update):
// it replaces them slot by slot. The orchestrator never picks nodes for
// replicated tasks (the scheduler does) nor touches addresses.
package orchestrator

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/minsw/minsw/internal/clock"
	"github.com/minsw/minsw/manager/identity"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/scheduler"
)

// Defaults as Swarm's.
const (
	DefaultRestartDelay     = 5 * time.Second
	DefaultTaskHistoryLimit = 5
)

// Config configures the orchestrator.
type Config struct {
	Clock  clock.Clock // the time it reads and waits on: restart delays (clock.Fake in tests)
	NewID  func() string
	Logger *slog.Logger
	// TaskHistoryLimit is how many tasks a slot keeps (the current one
	// included); the cluster object's spec overrides it when set.
	TaskHistoryLimit int
}

// Orchestrator reconciles services to their tasks.
type Orchestrator struct {
	st  *store.Store
	cfg Config

	mu       sync.Mutex
	timers   map[string]func() bool // task ID -> stop of its delayed start
	restarts map[string][]time.Time // slot key -> restart times, for max attempts
	// stopped: Run has ended, so no timer may be armed (a delayed start
	// re-arming itself would outlive the leader term).
	stopped bool
}

// New returns an orchestrator over st.
func New(st *store.Store, cfg Config) *Orchestrator {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.NewID == nil {
		cfg.NewID = identity.NewID
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.TaskHistoryLimit <= 0 {
		cfg.TaskHistoryLimit = DefaultTaskHistoryLimit
	}
	return &Orchestrator{st: st, cfg: cfg, timers: map[string]func() bool{}, restarts: map[string][]time.Time{}}
}

// Run reconciles until ctx ends: every service once at start, then those
// that events touch.
func (o *Orchestrator) Run(ctx context.Context) error {
	w := o.st.Watch(store.ForTables(store.TableService, store.TableTask, store.TableNode, store.TableCluster))
	defer w.Close()
	o.mu.Lock()
	o.stopped = false
	o.mu.Unlock()
	defer o.stopTimers()
	o.resumeDelayed()
	o.ReconcileAll(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.C:
		}
		events := w.Drain()
		all := false
		dirty := map[string]bool{}
		for _, e := range events {
			switch obj := e.Object.(type) {
			case *api.Service:
				dirty[obj.GetId()] = true
			case *api.Task:
				if taskNeedsLook(e) {
					dirty[obj.GetServiceId()] = true
				}
			case *api.Node:
				if e.Kind != store.EventUpdate || nodeChanged(e.Old.(*api.Node), obj) {
					all = true
				}
			default:
				all = true
			}
		}
		if all {
			o.ReconcileAll(ctx)
		} else if len(dirty) > 0 {
			ids := make([]string, 0, len(dirty))
			for id := range dirty {
				ids = append(ids, id)
			}
			o.Reconcile(ctx, ids)
		}
	}
}

// taskNeedsLook filters out the stream of status updates that change
// nothing the orchestrator decides on (e.g. ASSIGNED -> ACCEPTED).
func taskNeedsLook(e store.Event) bool {
	t := e.Object.(*api.Task)
	if e.Kind != store.EventUpdate {
		return true
	}
	old := e.Old.(*api.Task)
	return isTerminal(t.GetStatus().GetState()) != isTerminal(old.GetStatus().GetState()) ||
		t.GetDesiredState() != old.GetDesiredState() ||
		(t.GetStatus().GetState() == api.TaskState_TASK_STATE_RUNNING) != (old.GetStatus().GetState() == api.TaskState_TASK_STATE_RUNNING)
}

func nodeChanged(old, n *api.Node) bool {
	return old.GetStatus().GetState() != n.GetStatus().GetState() ||
		old.GetSpec().GetAvailability() != n.GetSpec().GetAvailability() ||
		!proto.Equal(old.GetSpec(), n.GetSpec()) || old.GetRole() != n.GetRole()
}

// ReconcileAll reconciles every service and reaps orphaned tasks.
func (o *Orchestrator) ReconcileAll(ctx context.Context) {
	var ids []string
	o.st.View(func(tx store.ReadTx) {
		for _, s := range tx.Services() {
			ids = append(ids, s.GetId())
		}
	})
	o.Reconcile(ctx, ids)
	o.reapOrphans(ctx)
}

// Reconcile reconciles the named services, a few per store write.
func (o *Orchestrator) Reconcile(ctx context.Context, serviceIDs []string) {
	sort.Strings(serviceIDs)
	const perWrite = 50
	for start := 0; start < len(serviceIDs); start += perWrite {
		chunk := serviceIDs[start:min(start+perWrite, len(serviceIDs))]
		for attempt := 0; attempt < 3; attempt++ {
			var delayed []delayedStart
			err := o.st.Update(ctx, func(tx *store.Tx) error {
				delayed = delayed[:0]
				p := o.newPass(tx)
				for _, id := range chunk {
					if err := p.service(id); err != nil {
						return err
					}
				}
				delayed = p.delayed
				return nil
			})
			if err == nil {
				o.armTimers(delayed)
				break
			}
			o.cfg.Logger.Debug("orchestrator write lost a race; retrying", "err", err)
		}
	}
}

// pass is one reconciliation inside one store write.
type pass struct {
	o       *Orchestrator
	tx      *store.Tx
	now     time.Time
	nodes   map[string]*api.Node
	delayed []delayedStart
	history int
}

type delayedStart struct {
	taskID string
	after  time.Duration
}

func (o *Orchestrator) newPass(tx *store.Tx) *pass {
	p := &pass{o: o, tx: tx, now: o.cfg.Clock.Now(), nodes: map[string]*api.Node{}, history: o.cfg.TaskHistoryLimit}
	for _, n := range tx.Nodes() {
		p.nodes[n.GetId()] = n
	}
	if c := tx.Cluster(); c != nil && c.GetSpec().GetTaskHistoryLimit() > 0 {
		p.history = int(c.GetSpec().GetTaskHistoryLimit())
	}
	return p
}

func isTerminal(s api.TaskState) bool { return s >= api.TaskState_TASK_STATE_COMPLETE }

// live tasks are those the service still wants: desired running (or ready,
// waiting out a restart delay).
func isLive(t *api.Task) bool { return t.GetDesiredState() <= api.TaskState_TASK_STATE_RUNNING }

// nodeUsable says whether tasks may stay on a node: it exists, is not down
// and is not drained.
func (p *pass) nodeUsable(id string) bool {
	if id == "" {
		return true
	}
	n, ok := p.nodes[id]
	if !ok {
		return false
	}
	return n.GetStatus().GetState() != api.NodeState_NODE_STATE_DOWN &&
		n.GetSpec().GetAvailability() != api.NodeAvailability_NODE_AVAILABILITY_DRAIN
}

func (p *pass) service(id string) error {
	svc := p.tx.Service(id)
	tasks := p.tx.TasksByService(id)
	if svc == nil {
		// The service is gone: every task of it goes too.
		for _, t := range tasks {
			if err := p.setDesired(t, api.TaskState_TASK_STATE_REMOVE, ""); err != nil {
				return err
			}
		}
		return p.reap(tasks)
	}
	if isJob(svc) {
		if err := p.job(svc, tasks); err != nil {
			return err
		}
	} else if svc.GetSpec().GetGlobal() != nil {
		if err := p.global(svc, tasks); err != nil {
			return err
		}
	} else if err := p.replicated(svc, tasks); err != nil {
		return err
	}
	return p.reap(p.tx.TasksByService(id))
}

func (p *pass) replicated(svc *api.Service, tasks []*api.Task) error {
	replicas := svc.GetSpec().GetReplicated().GetReplicas()
	slots := map[uint64][]*api.Task{}
	for _, t := range tasks {
		slots[t.GetSlot()] = append(slots[t.GetSlot()], t)
	}
	for slot := uint64(1); slot <= replicas; slot++ {
		var live []*api.Task
		for _, t := range slots[slot] {
			if isLive(t) {
				live = append(live, t)
			}
		}
		// More than one live task in a slot (a lost race): keep the newest.
		// An older one on another spec version is the updater's: a
		// start-first update keeps it until its successor runs.
		sort.Slice(live, func(i, j int) bool {
			return live[i].GetMeta().GetCreatedAt().AsTime().After(live[j].GetMeta().GetCreatedAt().AsTime())
		})
		for _, extra := range live[min(1, len(live)):] {
			if extra.GetSpecVersion() != live[0].GetSpecVersion() {
				continue
			}
			if err := p.setDesired(extra, api.TaskState_TASK_STATE_SHUTDOWN, ""); err != nil {
				return err
			}
		}
		if len(live) == 0 {
			if !p.slotDone(svc, slots[slot]) {
				if err := p.create(svc, slot, "", 0, nil); err != nil {
					return err
				}
			}
			continue
		}
		t := live[0]
		switch {
		case isTerminal(t.GetStatus().GetState()) && p.o.delayPending(t.GetId()):
			// It ended (rejected: a pull failed) while still waiting out its
			// restart delay: the slot gets no new task before the delay ends.
		case isTerminal(t.GetStatus().GetState()):
			if err := p.restart(svc, t); err != nil {
				return err
			}
		case !p.nodeUsable(t.GetNodeId()):
			if err := p.setDesired(t, api.TaskState_TASK_STATE_SHUTDOWN, "node is down or drained"); err != nil {
				return err
			}
			if err := p.create(svc, slot, "", 0, holdOf(t)); err != nil {
				return err
			}
		}
	}
	// Scale down: slots above the replica count go away.
	for slot, ts := range slots {
		if slot <= replicas {
			continue
		}
		for _, t := range ts {
			if t.GetDesiredState() < api.TaskState_TASK_STATE_REMOVE {
				if err := p.setDesired(t, api.TaskState_TASK_STATE_REMOVE, ""); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (p *pass) global(svc *api.Service, tasks []*api.Task) error {
	eligible, err := p.eligibleNodes(svc)
	if err != nil {
		return nil // refused at the API; a stored bad constraint places nothing
	}
	byNode := map[string][]*api.Task{}
	for _, t := range tasks {
		byNode[t.GetNodeId()] = append(byNode[t.GetNodeId()], t)
	}
	nodeIDs := make([]string, 0, len(p.nodes))
	for id := range p.nodes {
		nodeIDs = append(nodeIDs, id)
	}
	sort.Strings(nodeIDs)
	for _, id := range nodeIDs {
		var live *api.Task
		ts := byNode[id]
		sort.Slice(ts, func(i, j int) bool {
			return ts[i].GetMeta().GetCreatedAt().AsTime().After(ts[j].GetMeta().GetCreatedAt().AsTime())
		})
		for _, t := range ts {
			if !isLive(t) {
				continue
			}
			if live != nil && live.GetSpecVersion() != t.GetSpecVersion() {
				continue // an update's overlap: the updater's
			}
			if live != nil {
				if err := p.setDesired(t, api.TaskState_TASK_STATE_SHUTDOWN, ""); err != nil {
					return err
				}
				continue
			}
			live = t
		}
		switch {
		case live == nil && eligible[id]:
			if !p.slotDone(svc, byNode[id]) {
				if err := p.create(svc, 0, id, 0, nil); err != nil {
					return err
				}
			}
		case live == nil:
		case isTerminal(live.GetStatus().GetState()) && p.o.delayPending(live.GetId()):
		case !p.nodeUsable(id) || (!eligible[id] && p.nodes[id].GetStatus().GetState() == api.NodeState_NODE_STATE_READY):
			if err := p.setDesired(live, api.TaskState_TASK_STATE_SHUTDOWN, "node is no longer eligible"); err != nil {
				return err
			}
		case isTerminal(live.GetStatus().GetState()):
			if err := p.restart(svc, live); err != nil {
				return err
			}
		}
	}
	// Tasks on nodes that no longer exist.
	for id, ts := range byNode {
		if _, ok := p.nodes[id]; ok {
			continue
		}
		for _, t := range ts {
			if isLive(t) {
				if err := p.setDesired(t, api.TaskState_TASK_STATE_REMOVE, ""); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// eligibleNodes are the nodes a global service's task may run on: ready,
// active, and satisfying its constraints.
func (p *pass) eligibleNodes(svc *api.Service) (map[string]bool, error) {
	cons, err := scheduler.ParseConstraints(svc.GetSpec().GetTask().GetPlacement().GetConstraints())
	if err != nil {
		return nil, err
	}
	eligible := map[string]bool{}
	for id, n := range p.nodes {
		if n.GetStatus().GetState() != api.NodeState_NODE_STATE_READY ||
			n.GetSpec().GetAvailability() != api.NodeAvailability_NODE_AVAILABILITY_ACTIVE {
			continue
		}
		ok := true
		for _, c := range cons {
			if !c.Match(n) {
				ok = false
				break
			}
		}
		if ok {
			eligible[id] = true
		}
	}
	return eligible, nil
}

// slotDone reports whether a slot has finished for good under the restart
// policy: a task that completed with condition on-failure, or any end with
// condition none, or max attempts used up.
func (p *pass) slotDone(svc *api.Service, history []*api.Task) bool {
	cond := svc.GetSpec().GetTask().GetRestart().GetCondition()
	for _, t := range history {
		if t.GetSpecVersion() != svc.GetSpecVersion() || !isTerminal(t.GetStatus().GetState()) {
			continue
		}
		if t.GetDesiredState() == api.TaskState_TASK_STATE_REMOVE {
			continue
		}
		// A task shut down on purpose (update, drain, scale) does not end a slot.
		if t.GetStatus().GetState() == api.TaskState_TASK_STATE_SHUTDOWN {
			continue
		}
		switch cond {
		case api.RestartCondition_RESTART_CONDITION_NONE:
			return true
		case api.RestartCondition_RESTART_CONDITION_ON_FAILURE:
			if t.GetStatus().GetState() == api.TaskState_TASK_STATE_COMPLETE {
				return true
			}
		}
	}
	return p.attemptsUsed(svc, history)
}

func (p *pass) attemptsUsed(svc *api.Service, history []*api.Task) bool {
	rp := svc.GetSpec().GetTask().GetRestart()
	if rp.GetMaxAttempts() == 0 || len(history) == 0 {
		return false
	}
	key := slotKeyOf(history[0])
	p.o.mu.Lock()
	defer p.o.mu.Unlock()
	window := rp.GetWindow().AsDuration()
	n := 0
	for _, at := range p.o.restarts[key] {
		if window == 0 || p.now.Sub(at) <= window {
			n++
		}
	}
	return uint64(n) >= rp.GetMaxAttempts()
}

func slotKeyOf(t *api.Task) string {
	if t.GetSlot() == 0 {
		return fmt.Sprintf("%s/n/%s", t.GetServiceId(), t.GetNodeId())
	}
	return fmt.Sprintf("%s/%d", t.GetServiceId(), t.GetSlot())
}

// restart handles a live task that ended, by the service's restart policy.
func (p *pass) restart(svc *api.Service, t *api.Task) error {
	if err := p.setDesired(t, api.TaskState_TASK_STATE_SHUTDOWN, ""); err != nil {
		return err
	}
	rp := svc.GetSpec().GetTask().GetRestart()
	state := t.GetStatus().GetState()
	switch rp.GetCondition() {
	case api.RestartCondition_RESTART_CONDITION_NONE:
		return nil
	case api.RestartCondition_RESTART_CONDITION_ON_FAILURE:
		if state == api.TaskState_TASK_STATE_COMPLETE {
			return nil
		}
	}
	history := p.tx.TasksBySlot(svc.GetId(), t.GetSlot())
	if t.GetSlot() == 0 {
		history = nil
		for _, o := range p.tx.TasksByNode(t.GetNodeId()) {
			if o.GetServiceId() == svc.GetId() {
				history = append(history, o)
			}
		}
	}
	if p.attemptsUsed(svc, history) {
		return nil
	}
	delay := DefaultRestartDelay
	if rp.GetDelay() != nil {
		delay = rp.GetDelay().AsDuration()
	}
	p.o.mu.Lock()
	key := slotKeyOf(t)
	p.o.restarts[key] = append(p.o.restarts[key], p.now)
	p.o.mu.Unlock()
	node := ""
	if t.GetSlot() == 0 {
		node = t.GetNodeId()
	}
	return p.create(svc, t.GetSlot(), node, delay, holdOf(t))
}

// holdOf is what a replacement for t must wait for: the tasks t itself
// was held for by a stop-first update (nil when t was not held). A task
// replaced before it was released (its node went down, or it was rejected
// while held) hands its hold on, so its successor does not start next to
// the old task that is still stopping.
func holdOf(t *api.Task) []string {
	if t.GetDesiredState() != api.TaskState_TASK_STATE_READY || len(t.GetStartAfterStop()) == 0 {
		return nil
	}
	return append([]string(nil), t.GetStartAfterStop()...)
}

// create adds a task for slot (or, for a global service, node). With a
// hold, the task waits at ready for those tasks to stop; the updater
// releases it (package update).
func (p *pass) create(svc *api.Service, slot uint64, nodeID string, delay time.Duration, hold []string) error {
	desired := api.TaskState_TASK_STATE_RUNNING
	if delay > 0 || len(hold) > 0 {
		desired = api.TaskState_TASK_STATE_READY
	}
	t := NewTask(svc, p.o.cfg.NewID(), slot, nodeID, p.now)
	t.DesiredState = desired
	t.StartAfterStop = hold
	if err := p.tx.Create(t); err != nil {
		return err
	}
	if delay > 0 {
		p.delayed = append(p.delayed, delayedStart{taskID: t.GetId(), after: delay})
	}
	return nil
}

// NewTask is a new task of svc's current spec for slot (or, for a global
// service, node), desired running.
func NewTask(svc *api.Service, id string, slot uint64, nodeID string, now time.Time) *api.Task {
	return &api.Task{
		Id:           id,
		Meta:         &api.Meta{},
		Spec:         proto.Clone(svc.GetSpec().GetTask()).(*api.TaskSpec),
		ServiceId:    svc.GetId(),
		Slot:         slot,
		NodeId:       nodeID,
		ServiceName:  svc.GetSpec().GetName(),
		SpecVersion:  svc.GetSpecVersion(),
		DesiredState: api.TaskState_TASK_STATE_RUNNING,
		Endpoint:     svc.GetEndpoint(),
		Status:       &api.TaskStatus{State: api.TaskState_TASK_STATE_NEW, Message: "created", Timestamp: timestamppb.New(now)},
	}
}

func (p *pass) setDesired(t *api.Task, desired api.TaskState, why string) error {
	if t.GetDesiredState() >= desired {
		return nil
	}
	nt := proto.Clone(t).(*api.Task)
	nt.DesiredState = desired
	if why != "" && !isTerminal(nt.GetStatus().GetState()) {
		nt.Status.Message = why
	}
	return p.tx.Update(nt)
}

// reap deletes tasks that are no longer needed: removed tasks once they have
// stopped (or never reached a node that could stop them), and the oldest
// finished tasks of a slot beyond the history limit.
func (p *pass) reap(tasks []*api.Task) error {
	slots := map[string][]*api.Task{}
	for _, t := range tasks {
		cur := p.tx.Task(t.GetId())
		if cur == nil {
			continue
		}
		if cur.GetDesiredState() == api.TaskState_TASK_STATE_REMOVE &&
			(isTerminal(cur.GetStatus().GetState()) || cur.GetStatus().GetState() < api.TaskState_TASK_STATE_ASSIGNED ||
				!p.nodeUsableForStop(cur.GetNodeId())) {
			if err := p.tx.Delete(cur); err != nil {
				return err
			}
			continue
		}
		k := slotKeyOf(cur)
		slots[k] = append(slots[k], cur)
	}
	for _, ts := range slots {
		if len(ts) <= p.history {
			continue
		}
		var old []*api.Task
		for _, t := range ts {
			if !isLive(t) && (isTerminal(t.GetStatus().GetState()) || !p.nodeUsableForStop(t.GetNodeId())) {
				old = append(old, t)
			}
		}
		sort.Slice(old, func(i, j int) bool {
			return old[i].GetMeta().GetCreatedAt().AsTime().Before(old[j].GetMeta().GetCreatedAt().AsTime())
		})
		for i := 0; i < len(ts)-p.history && i < len(old); i++ {
			if err := p.tx.Delete(old[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// nodeUsableForStop says whether a node may still stop a task: it exists
// and is not down.
func (p *pass) nodeUsableForStop(id string) bool {
	if id == "" {
		return false
	}
	n, ok := p.nodes[id]
	return ok && n.GetStatus().GetState() != api.NodeState_NODE_STATE_DOWN
}

// reapOrphans removes tasks whose service is gone.
func (o *Orchestrator) reapOrphans(ctx context.Context) {
	var orphans []string
	o.st.View(func(tx store.ReadTx) {
		seen := map[string]bool{}
		for _, t := range tx.Tasks() {
			if !seen[t.GetServiceId()] && tx.Service(t.GetServiceId()) == nil {
				orphans = append(orphans, t.GetServiceId())
			}
			seen[t.GetServiceId()] = true
		}
	})
	if len(orphans) > 0 {
		o.Reconcile(ctx, orphans)
	}
}

// armTimers raises delayed tasks to desired RUNNING when their restart
// delay has passed.
func (o *Orchestrator) armTimers(ds []delayedStart) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.stopped {
		return
	}
	for _, d := range ds {
		id := d.taskID
		o.timers[id] = o.cfg.Clock.AfterFunc(d.after, func() {
			o.mu.Lock()
			delete(o.timers, id)
			o.mu.Unlock()
			o.startDelayed(id)
		}).Stop
	}
}

// resumeDelayed re-arms the delayed starts a previous leader left: each
// waits out what remains of its restart delay.
func (o *Orchestrator) resumeDelayed() {
	var ds []delayedStart
	now := o.cfg.Clock.Now()
	o.st.View(func(tx store.ReadTx) {
		for _, t := range tx.Tasks() {
			if t.GetDesiredState() != api.TaskState_TASK_STATE_READY || len(t.GetStartAfterStop()) > 0 {
				continue // (a task held by a stop-first update is the updater's)
			}
			delay := DefaultRestartDelay
			if d := t.GetSpec().GetRestart().GetDelay(); d != nil {
				delay = d.AsDuration()
			}
			left := t.GetMeta().GetCreatedAt().AsTime().Add(delay).Sub(now)
			ds = append(ds, delayedStart{taskID: t.GetId(), after: max(left, 0)})
		}
	})
	o.armTimers(ds)
}

// delayPending says whether a task still waits out its restart delay. A
// task is prepared (its image pulled) while it waits, so one that cannot
// be prepared ends at once; replacing it only when the delay is over keeps
// a slot to one failing task per delay, as for tasks that fail running.
func (o *Orchestrator) delayPending(taskID string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.timers[taskID]
	return ok
}

func (o *Orchestrator) startDelayed(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ended := ""
	var err error
	// The task's own status reports (it is being prepared while it waits)
	// race with this write; a write that lost the race is tried again, and
	// one that still fails is re-armed, so no task is left waiting for good.
	for attempt := 0; attempt < 5; attempt++ {
		ended = ""
		err = o.st.Update(ctx, func(tx *store.Tx) error {
			t := tx.Task(id)
			if t == nil || t.GetDesiredState() != api.TaskState_TASK_STATE_READY {
				return nil
			}
			if isTerminal(t.GetStatus().GetState()) {
				ended = t.GetServiceId() // rejected while waiting: replace it now
				return nil
			}
			if !HoldOver(tx.ReadTx, t.GetStartAfterStop()) {
				return nil // still held by a stop-first update: the updater releases it
			}
			nt := proto.Clone(t).(*api.Task)
			nt.DesiredState = api.TaskState_TASK_STATE_RUNNING
			return tx.Update(nt)
		})
		if err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		o.cfg.Logger.Warn("a delayed task could not be started yet; trying again", "task", id, "err", err)
		o.armTimers([]delayedStart{{taskID: id, after: time.Second}})
		return
	}
	if ended != "" {
		o.Reconcile(ctx, []string{ended})
	}
}

func (o *Orchestrator) stopTimers() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stopped = true
	for id, stop := range o.timers {
		stop()
		delete(o.timers, id)
	}
}

// HoldOver says a task held for ids (Task.start_after_stop) may start,
// reading the tasks and their nodes from tx (see HoldOverBy).
func HoldOver(tx store.ReadTx, ids []string) bool {
	return HoldOverBy(ids, tx.Task, func(nodeID string) bool {
		n := tx.Node(nodeID)
		return n == nil || n.GetStatus().GetState() == api.NodeState_NODE_STATE_DOWN
	})
}

// HoldOverBy is the rule of a stop-first hold, for the orchestrator and the
// updater alike: every task of ids has stopped, is gone, never reached a
// node (no container of it ever ran, and no agent will report on it), or
// is on a node that is gone or down (it will never say it stopped).
// nodeDown nil knows of no node down.
func HoldOverBy(ids []string, task func(id string) *api.Task, nodeDown func(nodeID string) bool) bool {
	for _, id := range ids {
		t := task(id)
		if t == nil || isTerminal(t.GetStatus().GetState()) || t.GetNodeId() == "" ||
			t.GetStatus().GetState() < api.TaskState_TASK_STATE_ASSIGNED {
			continue
		}
		if nodeDown != nil && nodeDown(t.GetNodeId()) {
			continue
		}
		return false
	}
	return true
}
