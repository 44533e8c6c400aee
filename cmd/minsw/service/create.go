package service

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/minsw/minsw/client"
	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// createOptions are service create's flags, by the part of the spec
// they set.
type createOptions struct {
	name string
	sf   specFlags
	stf  storageFlags
	uf   updateConfigFlags
	cf   containerFlags
	hf   healthFlags
	w    WaitFlags
}

func newCreateCommand(c *cli.CLI) *cobra.Command {
	var o createOptions
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a new service",
		Args:  cli.MinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := o.spec(cmd, args)
			if err != nil {
				return err
			}
			return createService(cmd.Context(), c, spec, o.w, o.cf.noResolveImage)
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false) // flags after IMAGE belong to the command
	f.StringVar(&o.name, "name", "", "Service name")
	o.stf.registerCreate(f)
	o.sf.registerCreate(f)
	o.uf.register(f)
	o.cf.registerCreate(f)
	o.hf.register(f)
	o.w.register(cmd)
	return cmd
}

// spec is the service spec the flags and arguments ask for; bad input is
// refused here, before the daemon is asked anything.
func (o *createOptions) spec(cmd *cobra.Command, args []string) (*minswv1.ServiceSpec, error) {
	changed := cmd.Flags().Changed
	spec := o.sf.newSpec(o.name, args)
	cond, err := parseRestartCondition(o.sf.restartCondition)
	if err != nil {
		return nil, err
	}
	spec.Task.Restart.Condition = cond
	if err := o.stf.applyCreate(spec.Task.Container); err != nil {
		return nil, err
	}
	o.sf.applyTimes(changed, spec)
	if err := o.sf.applyPlacement(spec); err != nil {
		return nil, err
	}
	if err := o.hf.apply(cmd.Flags(), spec.Task.Container); err != nil {
		return nil, err
	}
	if err := o.uf.applyCreate(cmd.Flags(), spec); err != nil {
		return nil, err
	}
	if err := o.cf.applyCreate(cmd, spec, o.sf.mode); err != nil {
		return nil, err
	}
	if err := o.sf.applyMode(changed, spec); err != nil {
		return nil, err
	}
	return spec, nil
}

// createService pins the image to its digest (unless noResolve), creates
// the service, retrying an unknown outcome with the same request ID, prints
// its ID and follows it unless detached.
func createService(ctx context.Context, c *cli.CLI, spec *minswv1.ServiceSpec, w WaitFlags, noResolve bool) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	ct := spec.Task.Container
	var platforms []*minswv1.Platform
	ct.Image, platforms = pinImage(ctx, c.Err, cl.Images, ct.Image, ct.GetRegistryAuth(), noResolve)
	if len(platforms) > 0 {
		placement(spec.Task).Platforms = platforms
	}
	req := &minswv1.CreateServiceRequest{Spec: spec, IdempotencyKey: cli.NewIdempotencyKey()}
	resp, err := cli.RetryUnknown(ctx, c.UnknownRetries, func(ctx context.Context) (*minswv1.CreateServiceResponse, error) {
		return cl.Control.CreateService(ctx, req)
	})
	if err != nil {
		return err
	}
	svc := resp.GetService()
	fmt.Fprintln(c.Out, svc.GetId())
	return follow(ctx, c, cl, svc, w)
}

// follow waits for a job to complete, or a service to converge.
func follow(ctx context.Context, c *cli.CLI, cl *client.Client, svc *minswv1.Service, w WaitFlags) error {
	if isJobSpec(svc.GetSpec()) {
		return waitForJob(ctx, c, cl, svc.GetId(), w)
	}
	return Wait(ctx, c, cl, svc.GetId(), svc.GetSpec().GetName(), w)
}
