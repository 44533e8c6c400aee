package update

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/clock"
	"github.com/minsw/minsw/manager/identity"
	"github.com/minsw/minsw/manager/orchestrator"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// RollbackFunc restores a service's previous spec, as `service update
// --rollback` does (endpoint allocation included), storing status.
type RollbackFunc func(ctx context.Context, serviceID string, status *api.UpdateStatus) error

// Config configures the updater.
type Config struct {
	Clock  clock.Clock
	NewID  func() string
	Logger *slog.Logger
	// Rollback, when nil, swaps the specs in the store directly (enough
	// when the endpoint does not change; tests use it).
	Rollback RollbackFunc
}

// Updater runs rolling updates and rollbacks on the leader.
type Updater struct {
	st  *store.Store
	cfg Config

	mu           sync.Mutex
	runningSince map[string]time.Time // task ID -> first seen running
	wakes        map[string]time.Time // service ID -> look again at
	stopTimer    func() bool
	poke         chan struct{}
}

// New returns an updater over st.
func New(st *store.Store, cfg Config) *Updater {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.NewID == nil {
		cfg.NewID = identity.NewID
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Updater{st: st, cfg: cfg, runningSince: map[string]time.Time{}, wakes: map[string]time.Time{}, poke: make(chan struct{}, 1)}
}

// Run follows services and their tasks until ctx ends.
func (u *Updater) Run(ctx context.Context) error {
	w := u.st.Watch(store.ForTables(store.TableService, store.TableTask))
	defer w.Close()
	defer func() {
		u.mu.Lock()
		if u.stopTimer != nil {
			u.stopTimer()
		}
		u.mu.Unlock()
	}()
	for _, id := range u.takeOver() {
		u.Reconcile(ctx, id)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.C:
		case <-u.poke:
		}
		dirty := map[string]bool{}
		now := u.cfg.Clock.Now()
		for _, e := range w.Drain() {
			switch obj := e.Object.(type) {
			case *api.Service:
				dirty[obj.GetId()] = true
			case *api.Task:
				if e.Kind == store.EventDelete {
					u.mu.Lock()
					delete(u.runningSince, obj.GetId())
					u.mu.Unlock()
					continue
				}
				if isRunning(obj) {
					u.seeRunning(obj.GetId(), now)
				}
				if e.Kind != store.EventUpdate || taskMoved(e.Old.(*api.Task), obj) {
					dirty[obj.GetServiceId()] = true
				}
			}
		}
		u.mu.Lock()
		for id, at := range u.wakes {
			if !now.Before(at) {
				dirty[id] = true
				delete(u.wakes, id)
			}
		}
		u.armLocked()
		u.mu.Unlock()
		for id := range dirty {
			u.Reconcile(ctx, id)
		}
	}
}

// takeOver notes the tasks already running when this leader's updater
// starts and returns every service ID.
func (u *Updater) takeOver() []string {
	var all []string
	u.st.View(func(tx store.ReadTx) {
		now := u.cfg.Clock.Now()
		for _, t := range tx.Tasks() {
			if isRunning(t) {
				u.seeRunning(t.GetId(), runningAt(t, now))
			}
		}
		for _, s := range tx.Services() {
			all = append(all, s.GetId())
		}
	})
	return all
}

// runningAt is when a task already running at the start of Run began to:
// the time of its running report, which raft keeps, so a new leader goes
// on with the monitor window and the delay of an update in flight instead
// of starting them again. A report from a node whose clock is ahead counts
// as now.
func runningAt(t *api.Task, now time.Time) time.Time {
	ts := t.GetStatus().GetTimestamp()
	if ts == nil || !ts.IsValid() {
		return now
	}
	if at := ts.AsTime(); at.Before(now) {
		return at
	}
	return now
}

// taskMoved filters the task updates a decision may depend on (health
// too: a running task whose check passes lets a start-first slot go on).
func taskMoved(old, t *api.Task) bool {
	return old.GetStatus().GetState() != t.GetStatus().GetState() ||
		old.GetStatus().GetHealth() != t.GetStatus().GetHealth() ||
		old.GetDesiredState() != t.GetDesiredState() || old.GetSpecVersion() != t.GetSpecVersion()
}

func (u *Updater) seeRunning(id string, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.runningSince[id]; !ok {
		u.runningSince[id] = now
	}
}

// Reconcile decides and applies the next step of one service's update.
func (u *Updater) Reconcile(ctx context.Context, serviceID string) {
	var plan Plan
	for attempt := 0; attempt < 3; attempt++ {
		now := u.cfg.Clock.Now()
		err := u.st.Update(ctx, func(tx *store.Tx) error {
			plan = Plan{}
			svc := tx.Service(serviceID)
			if svc == nil {
				return nil
			}
			tasks := tx.TasksByService(serviceID)
			// Only this service's tasks: copying every task's entry made
			// each reconcile cost the whole swarm (100,000 entries, ~90 MB
			// in flight at 10,000 services).
			since := make(map[string]time.Time, len(tasks))
			u.mu.Lock()
			for _, t := range tasks {
				if at, ok := u.runningSince[t.GetId()]; ok {
					since[t.GetId()] = at
				} else if isRunning(t) {
					since[t.GetId()] = now
					u.runningSince[t.GetId()] = now
				}
			}
			u.mu.Unlock()
			plan = Decide(Input{Service: svc, Tasks: tasks, Now: now, RunningSince: since, NodeDown: func(id string) bool {
				n := tx.Node(id)
				return n == nil || n.GetStatus().GetState() == api.NodeState_NODE_STATE_DOWN
			}})
			return u.apply(tx, svc, plan, now)
		})
		if err == nil {
			break
		}
		u.cfg.Logger.Debug("updater write lost a race; retrying", "service", serviceID, "err", err)
	}
	if plan.Rollback {
		u.cfg.Logger.Info("rolling back service", "service", serviceID, "reason", plan.Status.GetMessage())
		if u.cfg.Rollback != nil {
			if err := u.cfg.Rollback(ctx, serviceID, plan.Status); err != nil {
				u.cfg.Logger.Warn("rollback", "service", serviceID, "err", err)
			}
		}
	}
	if !plan.Wake.IsZero() {
		u.wakeAt(serviceID, plan.Wake)
	}
}

func (u *Updater) apply(tx *store.Tx, svc *api.Service, plan Plan, now time.Time) error {
	for _, id := range plan.Adopt {
		t := proto.Clone(tx.Task(id)).(*api.Task)
		t.SpecVersion = svc.GetSpecVersion()
		if err := tx.Update(t); err != nil {
			return err
		}
	}
	for _, id := range plan.Shutdown {
		cur := tx.Task(id)
		if cur == nil || cur.GetDesiredState() >= api.TaskState_TASK_STATE_SHUTDOWN {
			continue
		}
		t := proto.Clone(cur).(*api.Task)
		t.DesiredState = api.TaskState_TASK_STATE_SHUTDOWN
		if t.GetStatus().GetState() < api.TaskState_TASK_STATE_COMPLETE {
			t.Status.Message = "replaced by an update"
		}
		if err := tx.Update(t); err != nil {
			return err
		}
	}
	for _, s := range plan.Start {
		t := orchestrator.NewTask(svc, u.cfg.NewID(), s.Slot, s.Node, now)
		if wait := plan.Hold[s]; len(wait) > 0 {
			t.DesiredState = api.TaskState_TASK_STATE_READY
			t.StartAfterStop = wait
		}
		if err := tx.Create(t); err != nil {
			return err
		}
	}
	for _, id := range plan.Release {
		cur := tx.Task(id)
		if cur == nil || cur.GetDesiredState() != api.TaskState_TASK_STATE_READY {
			continue
		}
		t := proto.Clone(cur).(*api.Task)
		t.DesiredState = api.TaskState_TASK_STATE_RUNNING
		if err := tx.Update(t); err != nil {
			return err
		}
	}
	if plan.Status == nil {
		return nil
	}
	ns := proto.Clone(svc).(*api.Service)
	ns.UpdateStatus = plan.Status
	if plan.Rollback {
		if u.cfg.Rollback != nil {
			return nil // the hook stores the status with the spec swap
		}
		ns.Spec, ns.PreviousSpec = ns.GetPreviousSpec(), ns.GetSpec()
		ns.SpecVersion++
		ns.UpdateStatus.SpecVersion = ns.SpecVersion
	}
	return tx.Update(ns)
}

// wakeAt makes Run look at a service again at t.
func (u *Updater) wakeAt(serviceID string, t time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if cur, ok := u.wakes[serviceID]; ok && !cur.After(t) {
		return
	}
	u.wakes[serviceID] = t
	u.armLocked()
}

// armLocked sets the one timer to the earliest wake.
func (u *Updater) armLocked() {
	if u.stopTimer != nil {
		u.stopTimer()
		u.stopTimer = nil
	}
	var earliest time.Time
	for _, at := range u.wakes {
		if earliest.IsZero() || at.Before(earliest) {
			earliest = at
		}
	}
	if earliest.IsZero() {
		return
	}
	u.stopTimer = u.cfg.Clock.AfterFunc(max(earliest.Sub(u.cfg.Clock.Now()), 0), func() {
		select {
		case u.poke <- struct{}{}:
		default:
		}
	}).Stop
}
