// Package stack holds `minsw stack`: deploy a compose file, ls, services,
// ps and rm, over the stack package's plan and the Control API.
package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/minsw/minsw/client"
	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/cmd/minsw/internal/format"
	"github.com/minsw/minsw/cmd/minsw/internal/task"
	"github.com/minsw/minsw/cmd/minsw/service"
	"github.com/minsw/minsw/engineapi/convert"
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

// clusterAPI applies a stack through the daemon's Control API, translating
// docker's types with the same package the Engine API uses, so minsw's
// stacks and the docker CLI's are the same objects.
type clusterAPI struct{ cl *client.Client }

func (a clusterAPI) CreateNetwork(ctx context.Context, name string, opts network.CreateOptions) (string, error) {
	spec, err := convert.NetworkSpecFrom(network.CreateRequest{Name: name, CreateOptions: opts})
	if err != nil {
		return "", err
	}
	r, err := a.cl.Control.CreateNetwork(ctx, &minswv1.CreateNetworkRequest{Spec: spec})
	return r.GetNetwork().GetId(), err
}

// RemoveNetwork waits out the tasks of just-removed services that still
// hold the network (the daemon refuses while they stop), for a bounded time.
func (a clusterAPI) RemoveNetwork(ctx context.Context, id string) error {
	deadline := time.Now().Add(networkRemoveWait)
	for {
		_, err := a.cl.Control.RemoveNetwork(ctx, &minswv1.RemoveNetworkRequest{Ref: id})
		if err == nil || !errdefs.Is(err, errdefs.KindFailedPrecondition) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// networkRemoveWait bounds how long stack rm waits for a stack's tasks to
// let go of its networks.
const networkRemoveWait = 60 * time.Second

func (a clusterAPI) CreateService(ctx context.Context, s swarm.ServiceSpec) (string, error) {
	spec, err := convert.ServiceSpecFrom(s)
	if err != nil {
		return "", err
	}
	r, err := a.cl.Control.CreateService(ctx, &minswv1.CreateServiceRequest{Spec: spec})
	return r.GetService().GetId(), err
}

func (a clusterAPI) UpdateService(ctx context.Context, id string, version uint64, s swarm.ServiceSpec) error {
	spec, err := convert.ServiceSpecFrom(s)
	if err != nil {
		return err
	}
	_, err = a.cl.Control.UpdateService(ctx, &minswv1.UpdateServiceRequest{Ref: id, Version: version, Spec: spec})
	return err
}

func (a clusterAPI) RemoveService(ctx context.Context, id string) error {
	_, err := a.cl.Control.RemoveService(ctx, &minswv1.RemoveServiceRequest{Ref: id})
	return err
}

func (a clusterAPI) CreateSecret(ctx context.Context, f stack.File) (string, error) {
	r, err := a.cl.Control.CreateSecret(ctx, &minswv1.CreateSecretRequest{Spec: &minswv1.SecretSpec{Name: f.Name, Labels: f.Labels, Data: f.Data}})
	return r.GetSecret().GetId(), err
}

func (a clusterAPI) RemoveSecret(ctx context.Context, id string) error {
	_, err := a.cl.Control.RemoveSecret(ctx, &minswv1.RemoveSecretRequest{Ref: id})
	return err
}

func (a clusterAPI) CreateConfig(ctx context.Context, f stack.File) (string, error) {
	r, err := a.cl.Control.CreateConfig(ctx, &minswv1.CreateConfigRequest{Spec: &minswv1.ConfigSpec{Name: f.Name, Labels: f.Labels, Data: f.Data}})
	return r.GetConfig().GetId(), err
}

func (a clusterAPI) RemoveConfig(ctx context.Context, id string) error {
	_, err := a.cl.Control.RemoveConfig(ctx, &minswv1.RemoveConfigRequest{Ref: id})
	return err
}

// current reads what the cluster holds, as the plan needs it.
func (a clusterAPI) current(ctx context.Context) (stack.Current, []*minswv1.Service, error) {
	var cur stack.Current
	nets, err := a.cl.Control.ListNetworks(ctx, &minswv1.ListNetworksRequest{})
	if err != nil {
		return cur, nil, err
	}
	for _, n := range nets.GetNetworks() {
		cur.Networks = append(cur.Networks, stack.Object{ID: n.GetId(), Name: n.GetSpec().GetName(), Labels: n.GetSpec().GetLabels(), Version: n.GetMeta().GetVersion()})
	}
	secrets, err := a.cl.Control.ListSecrets(ctx, &minswv1.ListSecretsRequest{})
	if err != nil {
		return cur, nil, err
	}
	for _, s := range secrets.GetSecrets() {
		cur.Secrets = append(cur.Secrets, stack.Object{ID: s.GetId(), Name: s.GetSpec().GetName(), Labels: s.GetSpec().GetLabels(), Version: s.GetMeta().GetVersion()})
	}
	configs, err := a.cl.Control.ListConfigs(ctx, &minswv1.ListConfigsRequest{})
	if err != nil {
		return cur, nil, err
	}
	for _, c := range configs.GetConfigs() {
		cur.Configs = append(cur.Configs, stack.Object{ID: c.GetId(), Name: c.GetSpec().GetName(), Labels: c.GetSpec().GetLabels(), Version: c.GetMeta().GetVersion()})
	}
	svcs, err := a.cl.Control.ListServices(ctx, &minswv1.ListServicesRequest{})
	if err != nil {
		return cur, nil, err
	}
	for _, s := range svcs.GetServices() {
		cur.Services = append(cur.Services, stack.Object{ID: s.GetId(), Name: s.GetSpec().GetName(), Labels: s.GetSpec().GetLabels(), Version: s.GetMeta().GetVersion()})
	}
	return cur, svcs.GetServices(), nil
}

func newDeployCommand(c *cli.CLI) *cobra.Command {
	var files []string
	var prune, detach bool
	var resolveImage string
	cmd := &cobra.Command{
		Use:     "deploy [OPTIONS] STACK",
		Aliases: []string{"up"},
		Short:   "Deploy a new stack or update an existing stack",
		Args:    cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch resolveImage {
			case "always", "changed", "never":
			default:
				return fmt.Errorf("invalid option %s for flag --resolve-image", resolveImage)
			}
			ctx := cmd.Context()
			p, err := stack.Load(ctx, args[0], files, os.Environ())
			if err != nil {
				return err
			}
			st, err := stack.Convert(p, os.ReadFile)
			if err != nil {
				return err
			}
			if len(st.Unsupported) > 0 {
				fmt.Fprintf(c.Err, "Ignoring unsupported options: %s\n\n", strings.Join(st.Unsupported, ", "))
			}
			// Everything a stack needs that minsw cannot do is refused
			// here, before anything is made.
			for _, s := range st.Services {
				if _, err := convert.ServiceSpecFrom(s); err != nil {
					return fmt.Errorf("service %s: %w", strings.TrimPrefix(s.Name, st.Namespace+"_"), err)
				}
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			api := clusterAPI{cl}
			cur, _, err := api.current(ctx)
			if err != nil {
				return err
			}
			plan, err := stack.PlanDeploy(st, cur, prune)
			if err != nil {
				return err
			}
			if err := stack.Apply(ctx, api, plan, c.Out); err != nil {
				return stackError(err)
			}
			if detach {
				return nil
			}
			_, svcs, err := api.current(ctx)
			if err != nil {
				return err
			}
			for _, s := range svcs {
				if s.GetSpec().GetLabels()[stack.NamespaceLabel] != st.Namespace {
					continue
				}
				fmt.Fprintf(c.Out, "%s\n", s.GetSpec().GetName())
				if err := service.Wait(ctx, c, cl, s.GetId(), s.GetSpec().GetName(), service.WaitFlags{}); err != nil {
					return err
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVarP(&files, "compose-file", "c", nil, "Path to a Compose file, or \"-\" to read from stdin")
	f.BoolVar(&prune, "prune", false, "Prune services that are no longer referenced")
	f.StringVar(&resolveImage, "resolve-image", "always", "Query the registry to resolve image digest and supported platforms (\"always\", \"changed\", \"never\")")
	f.BoolVarP(&detach, "detach", "d", true, "Exit immediately instead of waiting for the stack services to converge")
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
