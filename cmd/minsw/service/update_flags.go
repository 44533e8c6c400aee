package service

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/cmd/minsw/internal/format"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// rolloutFlags are one of the two groups --update-* and --rollback-*.
type rolloutFlags struct {
	prefix          string // "update" or "rollback"
	parallelism     uint64
	delay, monitor  time.Duration
	failureAction   string
	maxFailureRatio float32
	order           string
}

// updateConfigFlags are a service's --update-* and --rollback-* flags, the
// same on create and update, as docker's.
type updateConfigFlags struct {
	update, rollback rolloutFlags
}

func (u *updateConfigFlags) register(f *pflag.FlagSet) {
	u.update.prefix, u.rollback.prefix = "update", "rollback"
	f.Uint64Var(&u.update.parallelism, "update-parallelism", 1, "Maximum number of tasks updated simultaneously (0 to update all at once)")
	f.DurationVar(&u.update.delay, "update-delay", 0, "Delay between updates (ns|us|ms|s|m|h)")
	f.DurationVar(&u.update.monitor, "update-monitor", 5*time.Second, "Duration after each task update to monitor for failure (ns|us|ms|s|m|h)")
	f.StringVar(&u.update.failureAction, "update-failure-action", "pause", `Action on update failure ("pause", "continue", "rollback")`)
	f.Float32Var(&u.update.maxFailureRatio, "update-max-failure-ratio", 0, "Failure rate to tolerate during an update")
	f.StringVar(&u.update.order, "update-order", "stop-first", `Update order ("start-first", "stop-first")`)
	f.Uint64Var(&u.rollback.parallelism, "rollback-parallelism", 1, "Maximum number of tasks rolled back simultaneously (0 to roll back all at once)")
	f.DurationVar(&u.rollback.delay, "rollback-delay", 0, "Delay between task rollbacks (ns|us|ms|s|m|h)")
	f.DurationVar(&u.rollback.monitor, "rollback-monitor", 5*time.Second, "Duration after each task rollback to monitor for failure (ns|us|ms|s|m|h)")
	f.StringVar(&u.rollback.failureAction, "rollback-failure-action", "pause", `Action on rollback failure ("pause", "continue")`)
	f.Float32Var(&u.rollback.maxFailureRatio, "rollback-max-failure-ratio", 0, "Failure rate to tolerate during a rollback")
	f.StringVar(&u.rollback.order, "rollback-order", "stop-first", `Rollback order ("start-first", "stop-first")`)
}

// applyCreate sets both configs, docker's defaults where no flag says.
func (u *updateConfigFlags) applyCreate(f *pflag.FlagSet, spec *minswv1.ServiceSpec) error {
	var err error
	if spec.Update, err = u.update.apply(f, nil, true); err != nil {
		return err
	}
	spec.Rollback, err = u.rollback.apply(f, nil, true)
	return err
}

// applyUpdate changes only what the flags given say.
func (u *updateConfigFlags) applyUpdate(f *pflag.FlagSet, spec *minswv1.ServiceSpec) error {
	var err error
	if spec.Update, err = u.update.apply(f, spec.Update, false); err != nil {
		return err
	}
	spec.Rollback, err = u.rollback.apply(f, spec.Rollback, false)
	return err
}

// apply returns cur with the changed flags applied (every flag when all),
// or cur itself when no flag of the group was given.
func (r *rolloutFlags) apply(f *pflag.FlagSet, cur *minswv1.UpdateConfig, all bool) (*minswv1.UpdateConfig, error) {
	set := func(name string) bool { return all || f.Changed(r.prefix+"-"+name) }
	any := false
	for _, n := range []string{"parallelism", "delay", "monitor", "failure-action", "max-failure-ratio", "order"} {
		any = any || set(n)
	}
	if !any {
		return cur, nil
	}
	c := &minswv1.UpdateConfig{Parallelism: 1, Monitor: durationpb.New(5 * time.Second)}
	if cur != nil {
		c = cur
	}
	if set("parallelism") {
		c.Parallelism = r.parallelism
	}
	if set("delay") {
		if r.delay < 0 {
			return nil, invalidFlag(r.prefix+"-delay", r.delay.String(), errors.New("must not be negative"))
		}
		c.Delay = durationpb.New(r.delay)
	}
	if set("monitor") {
		if r.monitor < 0 {
			return nil, invalidFlag(r.prefix+"-monitor", r.monitor.String(), errors.New("must not be negative"))
		}
		c.Monitor = durationpb.New(r.monitor)
	}
	if set("failure-action") {
		a, err := parseFailureAction(r.failureAction, r.prefix == "update")
		if err != nil {
			return nil, invalidFlag(r.prefix+"-failure-action", r.failureAction, err)
		}
		c.FailureAction = a
	}
	if set("max-failure-ratio") {
		if r.maxFailureRatio < 0 || r.maxFailureRatio > 1 {
			return nil, invalidFlag(r.prefix+"-max-failure-ratio", fmt.Sprint(r.maxFailureRatio), errors.New("must be between 0 and 1"))
		}
		c.MaxFailureRatio = r.maxFailureRatio
	}
	if set("order") {
		switch r.order {
		case "stop-first":
			c.Order = minswv1.UpdateOrder_UPDATE_ORDER_STOP_FIRST
		case "start-first":
			c.Order = minswv1.UpdateOrder_UPDATE_ORDER_START_FIRST
		default:
			return nil, invalidFlag(r.prefix+"-order", r.order, errors.New(`must be "start-first" or "stop-first"`))
		}
	}
	return c, nil
}

func parseFailureAction(s string, rollbackAllowed bool) (minswv1.UpdateFailureAction, error) {
	switch s {
	case "pause":
		return minswv1.UpdateFailureAction_UPDATE_FAILURE_ACTION_PAUSE, nil
	case "continue":
		return minswv1.UpdateFailureAction_UPDATE_FAILURE_ACTION_CONTINUE, nil
	case "rollback":
		if rollbackAllowed {
			return minswv1.UpdateFailureAction_UPDATE_FAILURE_ACTION_ROLLBACK, nil
		}
	}
	if rollbackAllowed {
		return 0, errors.New(`must be "pause", "continue" or "rollback"`)
	}
	return 0, errors.New(`must be "pause" or "continue"`)
}

// lowerEnum is an enum value as docker prints it: "stop-first", "pause".
func lowerEnum(s, prefix string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(s, prefix)), "_", "-")
}

// printUpdateConfigs writes the UpdateConfig and RollbackConfig sections of
// `service inspect --pretty` as docker's template does.
func printUpdateConfigs(w io.Writer, spec *minswv1.ServiceSpec) {
	section := func(title, orderLabel string, u *minswv1.UpdateConfig) {
		if u == nil {
			return
		}
		fmt.Fprintf(w, "%s:\n", title)
		fmt.Fprintf(w, " Parallelism:\t%d\n", u.GetParallelism())
		if d := u.GetDelay().AsDuration(); d > 0 {
			fmt.Fprintf(w, " Delay:\t%s\n", d)
		}
		fmt.Fprintf(w, " On failure:\t%s\n", lowerEnum(u.GetFailureAction().String(), "UPDATE_FAILURE_ACTION_"))
		if m := u.GetMonitor().AsDuration(); m > 0 {
			fmt.Fprintf(w, " Monitoring Period: %s\n", m)
		}
		fmt.Fprintf(w, " Max failure ratio: %g\n", u.GetMaxFailureRatio())
		fmt.Fprintf(w, " %s:      %s\n", orderLabel, lowerEnum(u.GetOrder().String(), "UPDATE_ORDER_"))
	}
	section("UpdateConfig", "Update order", spec.GetUpdate())
	section("RollbackConfig", "Rollback order", spec.GetRollback())
}

// printUpdateStatus writes the UpdateStatus section, as docker's.
func printUpdateStatus(w io.Writer, s *minswv1.Service, now time.Time) {
	st := s.GetUpdateStatus()
	if st == nil || st.GetState() == minswv1.UpdateState_UPDATE_STATE_UNKNOWN {
		return
	}
	fmt.Fprintln(w, "UpdateStatus:")
	fmt.Fprintf(w, " State:\t%s\n", UpdateStateName(st.GetState()))
	if st.GetStartedAt() != nil {
		fmt.Fprintf(w, " Started:\t%s\n", format.Ago(now, st.GetStartedAt().AsTime()))
	}
	if st.GetCompletedAt() != nil {
		fmt.Fprintf(w, " Completed:\t%s\n", format.Ago(now, st.GetCompletedAt().AsTime()))
	}
	fmt.Fprintf(w, " Message:\t%s\n", st.GetMessage())
}

// UpdateStateName is an update state as docker writes it: "rollback_completed".
func UpdateStateName(s minswv1.UpdateState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "UPDATE_STATE_"))
}

// newRollbackCommand is `service rollback SERVICE`: back to the
// previous spec, followed as an update is.
func newRollbackCommand(c *cli.CLI) *cobra.Command {
	var w WaitFlags
	cmd := &cobra.Command{
		Use:   "rollback [OPTIONS] SERVICE",
		Short: "Revert changes to a service's configuration",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			resp, err := cl.Control.GetService(cmd.Context(), &minswv1.GetServiceRequest{Ref: args[0]})
			if err != nil {
				return err
			}
			up, err := cl.Control.UpdateService(cmd.Context(), &minswv1.UpdateServiceRequest{
				Ref: resp.GetService().GetId(), Version: resp.GetService().GetMeta().GetVersion(), Rollback: true,
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out, args[0])
			w.rollback = true
			return Wait(cmd.Context(), c, cl, up.GetService().GetId(), up.GetService().GetSpec().GetName(), w)
		},
	}
	w.register(cmd)
	return cmd
}
