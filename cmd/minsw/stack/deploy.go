package stack

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/cmd/minsw/service"
	"github.com/minsw/minsw/engineapi/convert"
	"github.com/minsw/minsw/stack"
)

// deployOptions are stack deploy's flags.
type deployOptions struct {
	files        []string
	prune        bool
	detach       bool
	resolveImage string
}

func newDeployCommand(c *cli.CLI) *cobra.Command {
	var o deployOptions
	cmd := &cobra.Command{
		Use:     "deploy [OPTIONS] STACK",
		Aliases: []string{"up"},
		Short:   "Deploy a new stack or update an existing stack",
		Args:    cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDeploy(cmd.Context(), c, args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringSliceVarP(&o.files, "compose-file", "c", nil, "Path to a Compose file, or \"-\" to read from stdin")
	f.BoolVar(&o.prune, "prune", false, "Prune services that are no longer referenced")
	f.StringVar(&o.resolveImage, "resolve-image", "always", "Query the registry to resolve image digest and supported platforms (\"always\", \"changed\", \"never\")")
	f.BoolVarP(&o.detach, "detach", "d", true, "Exit immediately instead of waiting for the stack services to converge")
	return cmd
}

// runDeploy reads the compose files, plans the stack against what the
// cluster holds, applies the plan and, unless detached, follows each of
// the stack's services to convergence.
func runDeploy(ctx context.Context, c *cli.CLI, name string, o deployOptions) error {
	switch o.resolveImage {
	case "always", "changed", "never":
	default:
		return fmt.Errorf("invalid option %s for flag --resolve-image", o.resolveImage)
	}
	st, err := loadStack(ctx, c, name, o.files)
	if err != nil {
		return err
	}
	cl, err := c.Client()
	if err != nil {
		return err
	}
	api := clusterAPI{cl}
	cur, svcs, err := api.current(ctx)
	if err != nil {
		return err
	}
	resolveImages(ctx, c.Err, cl.Images, st, svcs, o.resolveImage)
	plan, err := stack.PlanDeploy(st, cur, o.prune)
	if err != nil {
		return err
	}
	if err := stack.Apply(ctx, api, plan, c.Out); err != nil {
		return stackError(err)
	}
	if o.detach {
		return nil
	}
	return waitStack(ctx, c, api, st.Namespace)
}

// loadStack reads and converts the compose files; everything a stack
// needs that minsw cannot do is refused here, before anything is made.
func loadStack(ctx context.Context, c *cli.CLI, name string, files []string) (*stack.Stack, error) {
	p, err := stack.Load(ctx, name, files, os.Environ())
	if err != nil {
		return nil, err
	}
	st, err := stack.Convert(p, os.ReadFile)
	if err != nil {
		return nil, err
	}
	if len(st.Unsupported) > 0 {
		fmt.Fprintf(c.Err, "Ignoring unsupported options: %s\n\n", strings.Join(st.Unsupported, ", "))
	}
	for _, s := range st.Services {
		if _, err := convert.ServiceSpecFrom(s); err != nil {
			return nil, fmt.Errorf("service %s: %w", strings.TrimPrefix(s.Name, st.Namespace+"_"), err)
		}
	}
	return st, nil
}

// waitStack follows each service of the stack to convergence.
func waitStack(ctx context.Context, c *cli.CLI, api clusterAPI, ns string) error {
	_, svcs, err := api.current(ctx)
	if err != nil {
		return err
	}
	for _, s := range svcs {
		if s.GetSpec().GetLabels()[stack.NamespaceLabel] != ns {
			continue
		}
		fmt.Fprintf(c.Out, "%s\n", s.GetSpec().GetName())
		if err := service.Wait(ctx, c, api.cl, s.GetId(), s.GetSpec().GetName(), service.WaitFlags{}); err != nil {
			return err
		}
	}
	return nil
}
