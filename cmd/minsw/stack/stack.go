// Package stack holds `minsw stack`: deploy a compose file, ls, services,
// ps and rm, over the stack package's plan and the Control API.
package stack

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/minsw/minsw/client"
	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/cmd/minsw/internal/format"
	"github.com/minsw/minsw/cmd/minsw/internal/task"
	"github.com/minsw/minsw/cmd/minsw/service"
	"github.com/minsw/minsw/internal/errdefs"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/stack"
)

// NewCommand is `minsw stack`.
func NewCommand(c *cli.CLI) *cobra.Command {
	cmd := &cobra.Command{Use: "stack", Short: "Manage Swarm stacks", Args: cli.NoArgs}
	cmd.AddCommand(
		newDeployCommand(c),
		newListCommand(c),
		newServicesCommand(c),
		newPsCommand(c),
		newRemoveCommand(c),
	)
	return cmd
}

type stackRow struct {
	Name, Services string
}

func newListCommand(c *cli.CLI) *cobra.Command {
	var tmpl string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List stacks",
		Args:    cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			cur, _, err := clusterAPI{cl}.current(cmd.Context())
			if err != nil {
				return err
			}
			var rows []any
			for _, s := range stack.Names(cur) {
				rows = append(rows, stackRow{Name: s.Name, Services: fmt.Sprint(s.Services)})
			}
			return stackTable.Write(c.Out, tmpl, false, rows)
		},
	}
	cmd.Flags().StringVar(&tmpl, "format", "", "Format output using a custom template")
	return cmd
}

// stackServices returns the services of stack ns that also pass the
// user's filters, or docker's error when there are none.
func stackServices(ctx context.Context, cl *client.Client, ns string, filter cli.ListFilter) ([]*minswv1.Service, error) {
	if err := stack.ValidateName(ns); err != nil {
		return nil, err
	}
	fs, err := filter.Request()
	if err != nil {
		return nil, err
	}
	fs = withLabelFilter(fs, stack.NamespaceLabel+"="+ns)
	svcs, err := cl.Control.ListServices(ctx, &minswv1.ListServicesRequest{Filters: fs})
	if err != nil {
		return nil, err
	}
	if len(svcs.GetServices()) == 0 {
		return nil, errdefs.NotFound("nothing found in stack: %s", ns)
	}
	return svcs.GetServices(), nil
}

// withLabelFilter adds label to the label filter of fs (all labels of one
// filter must hold).
func withLabelFilter(fs []*minswv1.ListFilter, label string) []*minswv1.ListFilter {
	for _, f := range fs {
		if f.GetKey() == "label" {
			f.Values = append(f.Values, label)
			return fs
		}
	}
	return append(fs, &minswv1.ListFilter{Key: "label", Values: []string{label}})
}

func newServicesCommand(c *cli.CLI) *cobra.Command {
	var quiet bool
	var filter cli.ListFilter
	var tmpl string
	cmd := &cobra.Command{
		Use:   "services [OPTIONS] STACK",
		Short: "List the services in the stack",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			svcs, err := stackServices(cmd.Context(), cl, args[0], filter)
			if err != nil {
				return err
			}
			return service.WriteTable(cmd.Context(), c, cl, svcs, quiet, tmpl)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display IDs")
	cmd.Flags().StringVar(&tmpl, "format", "", "Pretty-print services using a Go template")
	filter.Add(cmd)
	return cmd
}

func newPsCommand(c *cli.CLI) *cobra.Command {
	var quiet, noTrunc bool
	var filter cli.ListFilter
	var tmpl string
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] STACK",
		Short: "List the tasks in the stack",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			svcs, err := stackServices(cmd.Context(), cl, args[0], cli.ListFilter{})
			if err != nil {
				return err
			}
			var ids []string
			for _, s := range svcs {
				ids = append(ids, s.GetId())
			}
			fs, err := filter.Request()
			if err != nil {
				return err
			}
			return task.WriteTable(cmd.Context(), c, cl, &minswv1.ListTasksRequest{ServiceIds: ids, Filters: fs}, quiet, noTrunc, tmpl)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display task IDs")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "Do not truncate output")
	cmd.Flags().StringVar(&tmpl, "format", "", "Pretty-print tasks using a Go template")
	filter.Add(cmd)
	return cmd
}

func newRemoveCommand(c *cli.CLI) *cobra.Command {
	var detach bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] STACK [STACK...]",
		Aliases: []string{"remove", "down"},
		Short:   "Remove one or more stacks",
		Args:    cli.MinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			api := clusterAPI{cl}
			var errs []error
			for _, ns := range args {
				if err := stack.ValidateName(ns); err != nil {
					errs = append(errs, err)
					continue
				}
				cur, _, err := api.current(ctx)
				if err != nil {
					return err
				}
				m := stack.Of(ns, cur)
				if len(m.Services)+len(m.Networks)+len(m.Secrets)+len(m.Configs) == 0 {
					fmt.Fprintf(c.Err, "Nothing found in stack: %s\n", ns)
					continue
				}
				if err := stack.Remove(ctx, api, m, c.Out); err != nil {
					errs = append(errs, stackError(err))
					continue
				}
				if !detach {
					if err := waitStackGone(ctx, api, ns); err != nil {
						errs = append(errs, err)
					}
				}
			}
			return cli.MultiError(errs)
		},
	}
	cmd.Flags().BoolVarP(&detach, "detach", "d", true, "Do not wait for stack removal")
	return cmd
}

// waitStackGone polls until no service or network of the stack is left.
func waitStackGone(ctx context.Context, api clusterAPI, ns string) error {
	for {
		cur, _, err := api.current(ctx)
		if err != nil {
			return err
		}
		m := stack.Of(ns, cur)
		if len(m.Services)+len(m.Networks) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stack %s: still removing %d services and %d networks", ns, len(m.Services), len(m.Networks))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stackError renders the errors of a deploy or a removal a line each: the
// step that failed ("failed to create service app_web") and the daemon's
// words.
func stackError(err error) error {
	var lines []string
	var render func(error) string
	render = func(e error) string {
		var se *stack.StepError
		if errors.As(e, &se) {
			return se.Step + ": " + render(se.Err)
		}
		return client.Message(e)
	}
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		lines = append(lines, render(e))
	}
	walk(err)
	return errors.New(strings.Join(lines, "\n"))
}

var stackTable = format.Table{
	Default: "table {{.Name}}\t{{.Services}}",
	Headers: map[string]string{"Name": "NAME", "Services": "SERVICES"},
}
