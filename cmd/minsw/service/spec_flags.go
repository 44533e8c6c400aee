package service

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"
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

// registerCreate registers create's names for the options.
func (sf *specFlags) registerCreate(f *pflag.FlagSet) {
	f.StringVar(&sf.mode, "mode", "replicated", `Service mode ("replicated", "global", "replicated-job", "global-job")`)
	f.Uint64Var(&sf.replicas, "replicas", 1, "Number of tasks")
	f.StringArrayVar(&sf.networks, "network", nil, "Network attachments")
	f.StringArrayVarP(&sf.env, "env", "e", nil, "Set environment variables")
	f.StringArrayVarP(&sf.labels, "label", "l", nil, "Service labels")
	f.StringArrayVar(&sf.containerLabels, "container-label", nil, "Container labels")
	f.StringArrayVar(&sf.constraints, "constraint", nil, "Placement constraints")
	f.StringArrayVarP(&sf.publish, "publish", "p", nil, "Publish a port as a node port")
	sf.registerRestart(f)
	f.StringVar(&sf.hostname, "hostname", "", "Container hostname")
	f.StringVarP(&sf.workdir, "workdir", "w", "", "Working directory inside the container")
	f.StringVarP(&sf.user, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	f.DurationVar(&sf.stopGrace, "stop-grace-period", 10*time.Second, "Time to wait before force killing a container (ns|us|ms|s|m|h)")
}

// registerRestart registers the restart policy's flags, the same in
// create and update.
func (sf *specFlags) registerRestart(f *pflag.FlagSet) {
	f.StringVar(&sf.restartCondition, "restart-condition", "any", `Restart when condition is met ("none", "on-failure", "any")`)
	f.DurationVar(&sf.restartDelay, "restart-delay", 5*time.Second, "Delay between restart attempts (ns|us|ms|s|m|h)")
	f.Uint64Var(&sf.restartMaxAttempt, "restart-max-attempts", 0, "Maximum number of restarts before giving up")
	f.DurationVar(&sf.restartWindow, "restart-window", 0, "Window used to evaluate the restart policy (ns|us|ms|s|m|h)")
}

func parseRestartCondition(s string) (minswv1.RestartCondition, error) {
	v, ok := minswv1.RestartCondition_value["RESTART_CONDITION_"+strings.ToUpper(strings.ReplaceAll(s, "-", "_"))]
	if !ok {
		return 0, fmt.Errorf("invalid restart condition %q: must be one of any, on-failure, none", s)
	}
	return minswv1.RestartCondition(v), nil
}

// newSpec is the spec create starts from: name, image and command, and
// the options that need no checking.
func (sf *specFlags) newSpec(name string, args []string) *minswv1.ServiceSpec {
	return &minswv1.ServiceSpec{
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
}

// applyTimes sets the durations given to create.
func (sf *specFlags) applyTimes(changed func(string) bool, spec *minswv1.ServiceSpec) {
	if changed("restart-delay") {
		spec.Task.Restart.Delay = durationpb.New(sf.restartDelay)
	}
	if changed("restart-window") {
		spec.Task.Restart.Window = durationpb.New(sf.restartWindow)
	}
	if changed("stop-grace-period") {
		spec.Task.Container.StopGracePeriod = durationpb.New(sf.stopGrace)
	}
}

// applyPlacement sets create's constraints, networks and published ports.
func (sf *specFlags) applyPlacement(spec *minswv1.ServiceSpec) error {
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
	return nil
}

// applyMode sets --mode and --replicas; the job modes were set with the
// container options.
func (sf *specFlags) applyMode(changed func(string) bool, spec *minswv1.ServiceSpec) error {
	switch sf.mode {
	case "replicated-job", "global-job":
	case "replicated":
		replicas := uint64(1)
		if changed("replicas") {
			replicas = sf.replicas
		}
		spec.Mode = &minswv1.ServiceSpec_Replicated{Replicated: &minswv1.ReplicatedService{Replicas: replicas}}
	case "global":
		if changed("replicas") {
			return errors.New("replicas can only be used with replicated mode")
		}
		spec.Mode = &minswv1.ServiceSpec_Global{Global: &minswv1.GlobalService{}}
	default:
		return fmt.Errorf("invalid mode %q: must be replicated, global, replicated-job or global-job", sf.mode)
	}
	return nil
}
