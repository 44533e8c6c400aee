package service

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/minsw/minsw/client"
	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/cmd/minsw/internal/inspect"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

func newInspectCommand(c *cli.CLI) *cobra.Command {
	var pretty bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] SERVICE [SERVICE...]",
		Short: "Display detailed information on one or more services",
		Args:  cli.MinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			services, errs := cli.EachRef(args, func(ref string) (*minswv1.Service, error) {
				resp, err := cl.Control.GetService(cmd.Context(), &minswv1.GetServiceRequest{Ref: ref})
				return resp.GetService(), err
			})
			var nets map[string]string
			if pretty {
				nets = networkNames(cmd.Context(), cl)
			}
			if err := inspect.Write(c.Out, services, pretty, func(s *minswv1.Service) { printServicePretty(c, s, nets) }); err != nil {
				return err
			}
			return errs
		},
	}
	cmd.Flags().BoolVar(&pretty, "pretty", false, "Print the information in a human friendly format")
	return cmd
}

func networkNames(ctx context.Context, cl *client.Client) map[string]string {
	m := map[string]string{}
	resp, err := cl.Control.ListNetworks(ctx, &minswv1.ListNetworksRequest{})
	if err != nil {
		return m
	}
	for _, n := range resp.GetNetworks() {
		m[n.GetId()] = n.GetSpec().GetName()
	}
	return m
}

// printServicePretty is service inspect --pretty, as docker's template.
func printServicePretty(c *cli.CLI, s *minswv1.Service, nets map[string]string) {
	var w strings.Builder
	defer func() { io.WriteString(c.Out, cli.TabAlign(w.String(), 16)) }()
	spec := s.GetSpec()
	fmt.Fprintf(&w, "\nID:\t%s\n", s.GetId())
	fmt.Fprintf(&w, "Name:\t%s\n", spec.GetName())
	if len(spec.GetLabels()) > 0 {
		fmt.Fprintln(&w, "Labels:")
		for _, k := range cli.SortedKeys(spec.GetLabels()) {
			fmt.Fprintf(&w, " %s=%s\n", k, spec.GetLabels()[k])
		}
	}
	printMode(&w, spec)
	printUpdateStatus(&w, s, c.Now())
	fmt.Fprintln(&w, "Placement:")
	if cs := spec.GetTask().GetPlacement().GetConstraints(); len(cs) > 0 {
		fmt.Fprintf(&w, " Constraints:\t%s\n", strings.Join(cs, ", "))
	}
	printUpdateConfigs(&w, spec)
	printRestartPolicy(&w, spec.GetTask().GetRestart())
	printContainerSpec(&w, spec.GetTask().GetContainer())
	printNetworks(&w, spec.GetTask().GetNetworks(), nets)
	printServiceOptions(&w, spec)
	printPorts(&w, s.GetEndpoint().GetPorts())
}

func printMode(w io.Writer, spec *minswv1.ServiceSpec) {
	switch {
	case printJobMode(w, spec):
	case spec.GetGlobal() != nil:
		fmt.Fprintln(w, "Service Mode:\tGlobal")
	default:
		fmt.Fprintln(w, "Service Mode:\tReplicated")
		fmt.Fprintf(w, " Replicas:\t%d\n", spec.GetReplicated().GetReplicas())
	}
}

func printRestartPolicy(w io.Writer, r *minswv1.RestartPolicy) {
	if r == nil {
		return
	}
	fmt.Fprintln(w, "RestartPolicy:")
	fmt.Fprintf(w, " Condition:\t%s\n", strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(r.GetCondition().String(), "RESTART_CONDITION_")), "_", "-"))
	if r.GetDelay() != nil {
		fmt.Fprintf(w, " Delay:\t%s\n", r.GetDelay().AsDuration())
	}
	if r.GetMaxAttempts() > 0 {
		fmt.Fprintf(w, " Max Attempts:\t%d\n", r.GetMaxAttempts())
	}
}

func printContainerSpec(w io.Writer, ct *minswv1.ContainerSpec) {
	fmt.Fprintln(w, "ContainerSpec:")
	fmt.Fprintf(w, " Image:\t%s\n", ct.GetImage())
	if len(ct.GetCommand()) > 0 {
		fmt.Fprintf(w, " Command:\t%s\n", strings.Join(ct.GetCommand(), " "))
	}
	if len(ct.GetArgs()) > 0 {
		fmt.Fprintf(w, " Args:\t%s\n", strings.Join(ct.GetArgs(), " "))
	}
	if len(ct.GetEnv()) > 0 {
		fmt.Fprintf(w, " Env:\t%s\n", strings.Join(ct.GetEnv(), " "))
	}
	printStoragePretty(w, ct)
}

// printNetworks names the attachments' networks (nets: ID to name).
func printNetworks(w io.Writer, attachments []*minswv1.NetworkAttachmentConfig, nets map[string]string) {
	if len(attachments) == 0 {
		return
	}
	var names []string
	for _, n := range attachments {
		name := nets[n.GetTarget()]
		if name == "" {
			name = n.GetTarget()
		}
		names = append(names, name)
	}
	fmt.Fprintf(w, "Networks:\t%s\n", strings.Join(names, " "))
}

func printPorts(w io.Writer, ports []*minswv1.PortConfig) {
	if len(ports) == 0 {
		return
	}
	fmt.Fprintln(w, "Ports:")
	for _, p := range ports {
		fmt.Fprintf(w, " PublishedPort = %d\n  Protocol = %s\n  TargetPort = %d\n", p.GetPublishedPort(),
			strings.ToLower(strings.TrimPrefix(p.GetProtocol().String(), "PORT_PROTOCOL_")), p.GetTargetPort())
	}
}
