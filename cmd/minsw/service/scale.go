package service

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/client"
	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// updateService reads a service, lets change edit a copy of its spec and
// writes it back with the version read.
func updateService(ctx context.Context, cl *client.Client, ref string, change func(*minswv1.ServiceSpec) error) (*minswv1.Service, error) {
	resp, err := cl.Control.GetService(ctx, &minswv1.GetServiceRequest{Ref: ref})
	if err != nil {
		return nil, err
	}
	svc := resp.GetService()
	spec := proto.Clone(svc.GetSpec()).(*minswv1.ServiceSpec)
	if err := change(spec); err != nil {
		return nil, err
	}
	up, err := cl.Control.UpdateService(ctx, &minswv1.UpdateServiceRequest{Ref: svc.GetId(), Version: svc.GetMeta().GetVersion(), Spec: spec})
	if err != nil {
		return nil, err
	}
	return up.GetService(), nil
}

func newScaleCommand(c *cli.CLI) *cobra.Command {
	var w WaitFlags
	cmd := &cobra.Command{
		Use:   "scale SERVICE=REPLICAS [SERVICE=REPLICAS...]",
		Short: "Scale one or multiple replicated services",
		Args:  cli.MinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			type target struct {
				ref      string
				replicas uint64
			}
			var targets []target
			for _, a := range args {
				ref, n, ok := strings.Cut(a, "=")
				replicas, err := strconv.ParseUint(n, 10, 64)
				if !ok || ref == "" || err != nil {
					return fmt.Errorf("invalid scale specifier '%s'.\nSee '%s --help'.", a, cmd.CommandPath())
				}
				targets = append(targets, target{ref, replicas})
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			var errs []error
			var scaled []*minswv1.Service
			for _, t := range targets {
				svc, err := updateService(cmd.Context(), cl, t.ref, func(spec *minswv1.ServiceSpec) error {
					if spec.GetReplicated() == nil {
						return fmt.Errorf("%s: scale can only be used with replicated mode", t.ref)
					}
					spec.GetReplicated().Replicas = t.replicas
					return nil
				})
				if err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(c.Out, "%s scaled to %d\n", t.ref, t.replicas)
				scaled = append(scaled, svc)
			}
			for _, svc := range scaled {
				if err := Wait(cmd.Context(), c, cl, svc.GetId(), svc.GetSpec().GetName(), w); err != nil {
					errs = append(errs, err)
				}
			}
			return cli.MultiError(errs)
		},
	}
	w.register(cmd)
	return cmd
}
