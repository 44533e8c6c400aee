package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// specFlags are the service options shared by create and update.
type specFlags struct {
	mode              string
	replicas          uint64
	networks          []string
	env, labels       []string
	containerLabels   []string
	constraints       []string
	publish           []string
	restartCondition  string
	restartDelay      time.Duration
	restartMaxAttempt uint64
	restartWindow     time.Duration
	hostname, workdir string
	user              string
	stopGrace         time.Duration
}

func parseRestartCondition(s string) (minswv1.RestartCondition, error) {
	v, ok := minswv1.RestartCondition_value["RESTART_CONDITION_"+strings.ToUpper(strings.ReplaceAll(s, "-", "_"))]
	if !ok {
		return 0, fmt.Errorf("invalid restart condition %q: must be one of any, on-failure, none", s)
	}
	return minswv1.RestartCondition(v), nil
}

func newCreateCommand(c *cli.CLI) *cobra.Command {
	var sf specFlags
	var stf storageFlags
	var uf updateConfigFlags
	var cf containerFlags
	var hf healthFlags
	var name string
	var w WaitFlags
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a new service",
		Args:  cli.MinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec := &minswv1.ServiceSpec{
				Name:   name,
				Labels: cli.ParseKV(sf.labels),
				Task: &minswv1.TaskSpec{
					Container: &minswv1.ContainerSpec{
						Image:    args[0],
						Args:     args[1:],
						Env:      sf.env,
						Hostname: sf.hostname,
						Dir:      sf.workdir,
						User:     sf.user,
						Labels:   cli.ParseKV(sf.containerLabels),
					},
					Restart: &minswv1.RestartPolicy{MaxAttempts: sf.restartMaxAttempt},
				},
			}
			cond, err := parseRestartCondition(sf.restartCondition)
			if err != nil {
				return err
			}
			spec.Task.Restart.Condition = cond
			if err := stf.applyCreate(spec.Task.Container); err != nil {
				return err
			}
			if cmd.Flags().Changed("restart-delay") {
				spec.Task.Restart.Delay = durationpb.New(sf.restartDelay)
			}
			if cmd.Flags().Changed("restart-window") {
				spec.Task.Restart.Window = durationpb.New(sf.restartWindow)
			}
			if cmd.Flags().Changed("stop-grace-period") {
				spec.Task.Container.StopGracePeriod = durationpb.New(sf.stopGrace)
			}
			if len(sf.constraints) > 0 {
				spec.Task.Placement = &minswv1.Placement{Constraints: sf.constraints}
			}
			for _, n := range sf.networks {
				spec.Task.Networks = append(spec.Task.Networks, &minswv1.NetworkAttachmentConfig{Target: n})
			}
			for _, p := range sf.publish {
				pc, err := parsePort(p)
				if err != nil {
					return err
				}
				if spec.Endpoint == nil {
					spec.Endpoint = &minswv1.EndpointSpec{}
				}
				spec.Endpoint.Ports = append(spec.Endpoint.Ports, pc)
			}
			if err := hf.apply(cmd.Flags(), spec.Task.Container); err != nil {
				return err
			}
			if err := uf.applyCreate(cmd.Flags(), spec); err != nil {
				return err
			}
			if err := cf.applyCreate(cmd, spec, sf.mode); err != nil {
				return err
			}
			switch sf.mode {
			case "replicated-job", "global-job":
			case "replicated":
				replicas := uint64(1)
				if cmd.Flags().Changed("replicas") {
					replicas = sf.replicas
				}
				spec.Mode = &minswv1.ServiceSpec_Replicated{Replicated: &minswv1.ReplicatedService{Replicas: replicas}}
			case "global":
				if cmd.Flags().Changed("replicas") {
					return errors.New("replicas can only be used with replicated mode")
				}
				spec.Mode = &minswv1.ServiceSpec_Global{Global: &minswv1.GlobalService{}}
			default:
				return fmt.Errorf("invalid mode %q: must be replicated, global, replicated-job or global-job", sf.mode)
			}

			cl, err := c.Client()
			if err != nil {
				return err
			}
			req := &minswv1.CreateServiceRequest{Spec: spec, IdempotencyKey: cli.NewIdempotencyKey()}
			resp, err := cli.RetryUnknown(cmd.Context(), func(ctx context.Context) (*minswv1.CreateServiceResponse, error) {
				return cl.Control.CreateService(ctx, req)
			})
			if err != nil {
				return err
			}
			svc := resp.GetService()
			fmt.Fprintln(c.Out, svc.GetId())
			if isJobSpec(svc.GetSpec()) {
				return waitForJob(cmd.Context(), c, cl, svc.GetId(), w)
			}
			return Wait(cmd.Context(), c, cl, svc.GetId(), svc.GetSpec().GetName(), w)
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false) // flags after IMAGE belong to the command
	f.StringVar(&name, "name", "", "Service name")
	stf.registerCreate(f)
	f.StringVar(&sf.mode, "mode", "replicated", `Service mode ("replicated", "global", "replicated-job", "global-job")`)
	f.Uint64Var(&sf.replicas, "replicas", 1, "Number of tasks")
	f.StringArrayVar(&sf.networks, "network", nil, "Network attachments")
	f.StringArrayVarP(&sf.env, "env", "e", nil, "Set environment variables")
	f.StringArrayVarP(&sf.labels, "label", "l", nil, "Service labels")
	f.StringArrayVar(&sf.containerLabels, "container-label", nil, "Container labels")
	f.StringArrayVar(&sf.constraints, "constraint", nil, "Placement constraints")
	f.StringArrayVarP(&sf.publish, "publish", "p", nil, "Publish a port as a node port")
	f.StringVar(&sf.restartCondition, "restart-condition", "any", `Restart when condition is met ("none", "on-failure", "any")`)
	f.DurationVar(&sf.restartDelay, "restart-delay", 5*time.Second, "Delay between restart attempts (ns|us|ms|s|m|h)")
	f.Uint64Var(&sf.restartMaxAttempt, "restart-max-attempts", 0, "Maximum number of restarts before giving up")
	f.DurationVar(&sf.restartWindow, "restart-window", 0, "Window used to evaluate the restart policy (ns|us|ms|s|m|h)")
	f.StringVar(&sf.hostname, "hostname", "", "Container hostname")
	f.StringVarP(&sf.workdir, "workdir", "w", "", "Working directory inside the container")
	f.StringVarP(&sf.user, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	f.DurationVar(&sf.stopGrace, "stop-grace-period", 10*time.Second, "Time to wait before force killing a container (ns|us|ms|s|m|h)")
	uf.register(f)
	cf.registerCreate(f)
	hf.register(f)
	w.register(cmd)
	return cmd
}
