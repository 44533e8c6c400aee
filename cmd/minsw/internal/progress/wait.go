package progress

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// Options tune Wait; the zero value is not useful, start from DefaultOptions.
type Options struct {
	// Interval is the time between two polls of the manager.
	Interval time.Duration
	// Verify is how long a converged service must stay converged
	// ("verify: Waiting 5 seconds to verify that tasks are stable...").
	Verify time.Duration
	// Stall is how long every unconverged slot may stay stuck, unchanged,
	// before Wait gives up with ErrCannotConverge.
	Stall time.Duration
	// Now is the clock; tests inject a fake one.
	Now func() time.Time
	// Rollback is set when the user asked for a rollback: its completion
	// is then a success, where an update rolled back by failure is not.
	Rollback bool
	// Settle bounds how long Wait waits, once converged and verified, for
	// the manager to call the update completed.
	Settle time.Duration
}

// DefaultOptions are docker's timings.
func DefaultOptions() Options {
	return Options{Interval: 150 * time.Millisecond, Verify: 5 * time.Second, Stall: 10 * time.Second, Settle: 30 * time.Second, Now: time.Now}
}

// ErrCannotConverge is returned when the service's tasks cannot all run,
// e.g. when no node satisfies its constraints.
var ErrCannotConverge = errors.New("cannot converge")

// Display shows a View as it changes.
type Display interface {
	Update(View)
	// Close shows the last view; err is why Wait stopped, nil when converged.
	Close(last View, err error)
}

// View is everything on screen at one moment.
type View struct {
	Status Status
	// Rollback is the line saying why the update rolls back ("rollback:
	// update rolled back due to ..."), "" unless it does.
	Rollback string
	// Verify is the last line ("verify: Service converged"), "" before convergence.
	Verify string
}

// Lines are the view as plain text lines, as in the seed.
func (v View) Lines() []string {
	lines := []string{v.Status.Overall()}
	for _, s := range v.Status.Slots {
		lines = append(lines, s.Line())
	}
	if v.Rollback != "" {
		lines = append(lines, v.Rollback)
	}
	if v.Verify != "" {
		lines = append(lines, v.Verify)
	}
	return lines
}

// Wait polls the manager until the service with the given ID has converged
// and stayed so for opts.Verify, showing progress on d. It returns
// ctx.Err() when the user interrupts (the service carries on without us).
func Wait(ctx context.Context, api minswv1.ControlClient, serviceID string, d Display, opts Options) (err error) {
	w := &waiter{opts: opts}
	tick := time.NewTicker(opts.Interval)
	defer tick.Stop()
	defer func() { d.Close(w.view, err) }()

	for {
		svc, tasks, nodes, err := poll(ctx, api, serviceID)
		if err != nil {
			return err
		}
		if done, err := w.step(svc, tasks, nodes, d); done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// poll reads what Evaluate needs: the service, its tasks and the nodes.
func poll(ctx context.Context, api minswv1.ControlClient, serviceID string) (*minswv1.Service, []*minswv1.Task, []*minswv1.Node, error) {
	svcResp, err := api.GetService(ctx, &minswv1.GetServiceRequest{Ref: serviceID})
	if err != nil {
		return nil, nil, nil, err
	}
	svc := svcResp.GetService()
	tasks, err := api.ListTasks(ctx, &minswv1.ListTasksRequest{ServiceIds: []string{svc.GetId()}})
	if err != nil {
		return nil, nil, nil, err
	}
	nodes, err := api.ListNodes(ctx, &minswv1.ListNodesRequest{})
	if err != nil {
		return nil, nil, nil, err
	}
	return svc, tasks.GetTasks(), nodes.GetNodes(), nil
}

// waiter is Wait's state between two polls.
type waiter struct {
	opts        Options
	view        View
	convergedAt time.Time
	stuckSince  time.Time
	stuckLines  string
}

// step takes one poll into the view and shows it; done says Wait ends,
// with err (nil when the service converged).
func (w *waiter) step(svc *minswv1.Service, tasks []*minswv1.Task, nodes []*minswv1.Node, d Display) (done bool, err error) {
	now := w.opts.Now()
	w.view.Status = Evaluate(svc, tasks, nodes)
	us := svc.GetUpdateStatus()
	if err := w.noteUpdater(us); err != nil {
		d.Update(w.view)
		return true, err
	}
	// Still rolling out by the updater's account (its monitor window).
	updating := us.GetSpecVersion() == svc.GetSpecVersion() &&
		(us.GetState() == minswv1.UpdateState_UPDATE_STATE_UPDATING || us.GetState() == minswv1.UpdateState_UPDATE_STATE_ROLLBACK_STARTED)
	if w.view.Status.Converged() {
		if w.verified(now, updating) {
			d.Update(w.view)
			if w.view.Status.RollingBack && !w.opts.Rollback {
				return true, fmt.Errorf("service rolled back: %s", us.GetMessage())
			}
			return true, nil
		}
	} else if err := w.notConverged(now, svc); err != nil {
		return true, err
	}
	d.Update(w.view)
	return false, nil
}

// noteUpdater takes the updater's word: a paused update or rollback ends
// the wait; a rollback is shown as one.
func (w *waiter) noteUpdater(us *minswv1.UpdateStatus) error {
	switch us.GetState() {
	case minswv1.UpdateState_UPDATE_STATE_PAUSED:
		return fmt.Errorf("service update paused: %s", us.GetMessage())
	case minswv1.UpdateState_UPDATE_STATE_ROLLBACK_PAUSED:
		return fmt.Errorf("service rollback paused: %s", us.GetMessage())
	case minswv1.UpdateState_UPDATE_STATE_ROLLBACK_STARTED, minswv1.UpdateState_UPDATE_STATE_ROLLBACK_COMPLETED:
		w.view.Status.RollingBack = true
		if w.view.Rollback == "" && us.GetMessage() != "" {
			w.view.Rollback = "rollback: " + us.GetMessage()
		}
	}
	return nil
}

// verified counts down opts.Verify from the first converged poll (longer
// while the updater still monitors) and says when it has passed.
func (w *waiter) verified(now time.Time, updating bool) bool {
	w.stuckSince = time.Time{}
	if w.convergedAt.IsZero() {
		w.convergedAt = now
	}
	left := w.opts.Verify - now.Sub(w.convergedAt)
	if left <= 0 && updating && now.Sub(w.convergedAt) < w.opts.Verify+w.opts.Settle {
		left = time.Second // the updater's monitor has not passed yet
	}
	if left <= 0 {
		w.view.Verify = "verify: Service converged"
		return true
	}
	w.view.Verify = fmt.Sprintf("verify: Waiting %d seconds to verify that tasks are stable...", int(math.Ceil(left.Seconds())))
	return false
}

// notConverged restarts the countdown and gives up with ErrCannotConverge
// once every unconverged slot has been stuck, unchanged, for opts.Stall.
func (w *waiter) notConverged(now time.Time, svc *minswv1.Service) error {
	if !w.convergedAt.IsZero() {
		w.view.Verify = "verify: Detected task failure"
	}
	w.convergedAt = time.Time{}
	stuck := w.view.Status.Stuck()
	if stuck == nil {
		w.stuckSince, w.stuckLines = time.Time{}, ""
		return nil
	}
	lines := strings.Join(stuck, "\n")
	if lines != w.stuckLines || w.stuckSince.IsZero() {
		w.stuckSince, w.stuckLines = now, lines
	}
	if now.Sub(w.stuckSince) >= w.opts.Stall {
		return fmt.Errorf("service %s %w: %s", svc.GetSpec().GetName(), ErrCannotConverge, strings.Join(stuck, "; "))
	}
	return nil
}
