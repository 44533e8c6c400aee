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
	var (
		view        View
		convergedAt time.Time
		stuckSince  time.Time
		stuckLines  string
		tick        = time.NewTicker(opts.Interval)
	)
	defer tick.Stop()
	defer func() { d.Close(view, err) }()

	for {
		svcResp, err := api.GetService(ctx, &minswv1.GetServiceRequest{Ref: serviceID})
		if err != nil {
			return err
		}
		svc := svcResp.GetService()
		tasks, err := api.ListTasks(ctx, &minswv1.ListTasksRequest{ServiceIds: []string{svc.GetId()}})
		if err != nil {
			return err
		}
		nodes, err := api.ListNodes(ctx, &minswv1.ListNodesRequest{})
		if err != nil {
			return err
		}
		now := opts.Now()
		view.Status = Evaluate(svc, tasks.GetTasks(), nodes.GetNodes())

		// The updater's word ends the wait when an update stops short.
		us := svc.GetUpdateStatus()
		switch us.GetState() {
		case minswv1.UpdateState_UPDATE_STATE_PAUSED:
			d.Update(view)
			return fmt.Errorf("service update paused: %s", us.GetMessage())
		case minswv1.UpdateState_UPDATE_STATE_ROLLBACK_PAUSED:
			d.Update(view)
			return fmt.Errorf("service rollback paused: %s", us.GetMessage())
		case minswv1.UpdateState_UPDATE_STATE_ROLLBACK_STARTED, minswv1.UpdateState_UPDATE_STATE_ROLLBACK_COMPLETED:
			view.Status.RollingBack = true
			if view.Rollback == "" && us.GetMessage() != "" {
				view.Rollback = "rollback: " + us.GetMessage()
			}
		}
		// Still rolling out by the updater's account (its monitor window).
		updating := us.GetSpecVersion() == svc.GetSpecVersion() &&
			(us.GetState() == minswv1.UpdateState_UPDATE_STATE_UPDATING || us.GetState() == minswv1.UpdateState_UPDATE_STATE_ROLLBACK_STARTED)

		switch {
		case view.Status.Converged():
			stuckSince = time.Time{}
			if convergedAt.IsZero() {
				convergedAt = now
			}
			left := opts.Verify - now.Sub(convergedAt)
			if left <= 0 && updating && now.Sub(convergedAt) < opts.Verify+opts.Settle {
				left = time.Second // the updater's monitor has not passed yet
			}
			if left <= 0 {
				view.Verify = "verify: Service converged"
				d.Update(view)
				if view.Status.RollingBack && !opts.Rollback {
					return fmt.Errorf("service rolled back: %s", us.GetMessage())
				}
				return nil
			}
			view.Verify = fmt.Sprintf("verify: Waiting %d seconds to verify that tasks are stable...", int(math.Ceil(left.Seconds())))
		default:
			if !convergedAt.IsZero() {
				view.Verify = "verify: Detected task failure"
			}
			convergedAt = time.Time{}
			if stuck := view.Status.Stuck(); stuck != nil {
				lines := strings.Join(stuck, "\n")
				if lines != stuckLines || stuckSince.IsZero() {
					stuckSince, stuckLines = now, lines
				}
				if now.Sub(stuckSince) >= opts.Stall {
					return fmt.Errorf("service %s %w: %s", svc.GetSpec().GetName(), ErrCannotConverge, strings.Join(stuck, "; "))
				}
			} else {
				stuckSince, stuckLines = time.Time{}, ""
			}
		}
		d.Update(view)

		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
