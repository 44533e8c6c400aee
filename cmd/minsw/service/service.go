// Package service holds `minsw service`: create, ls, ps, inspect, scale,
// update, rollback, rm and logs; the option parsers that turn docker's
// flags into a ServiceSpec; the convergence display that follows them.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/minsw/minsw/client"
	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/cmd/minsw/internal/format"
	"github.com/minsw/minsw/cmd/minsw/internal/inspect"
	"github.com/minsw/minsw/cmd/minsw/internal/progress"
	"github.com/minsw/minsw/cmd/minsw/internal/task"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// NewCommand is `minsw service`.
func NewCommand(c *cli.CLI) *cobra.Command {
	cmd := &cobra.Command{Use: "service", Short: "Manage Swarm services", Args: cli.NoArgs}
	cmd.AddCommand(
		newCreateCommand(c),
		newListCommand(c),
		newPsCommand(c),
		newInspectCommand(c),
		newScaleCommand(c),
		newUpdateCommand(c),
		newRollbackCommand(c),
		newRemoveCommand(c),
		newLogsCommand(c),
	)
	return cmd
}

// WaitFlags are the flags of the commands that may follow convergence.
type WaitFlags struct {
	detach, quiet bool
	// rollback is set (not a flag) when the user asked for the rollback,
	// so its completion is a success, not a failed update.
	rollback bool
}

func (w *WaitFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVarP(&w.detach, "detach", "d", false, "Exit immediately instead of waiting for the service to converge")
	cmd.Flags().BoolVarP(&w.quiet, "quiet", "q", false, "Suppress progress output")
}

// Wait shows the service converging unless detached. Ctrl-C
// stops following; the service carries on.
func Wait(ctx context.Context, c *cli.CLI, cl *client.Client, id, name string, w WaitFlags) error {
	if w.detach {
		return nil
	}
	var d progress.Display
	switch _, tty := cli.IsTerminal(c.Out); {
	case w.quiet:
		d = discard{}
	case tty:
		d = progress.NewTerminal(c.Out)
	default:
		d = &progress.Plain{Out: c.Out}
	}
	opts := c.Progress
	opts.Rollback = w.rollback
	err := progress.Wait(ctx, cl.Control, id, d, opts)
	// An RPC cut by the caller's deadline can report DeadlineExceeded a
	// moment before ctx itself says so.
	if err != nil && (ctx.Err() != nil || status.Code(err) == codes.Canceled || status.Code(err) == codes.DeadlineExceeded) {
		fmt.Fprintf(c.Err, "\nOperation continuing in background.\nUse `minsw service ps --no-trunc %s` to check progress.\n", name)
		return nil
	}
	return err
}

type discard struct{}

func (discard) Update(progress.View)       {}
func (discard) Close(progress.View, error) {}

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

// applyPublishChanges carries out --publish-rm then --publish-add on spec:
// an added port replaces one published on the same port and protocol.
func applyPublishChanges(spec *minswv1.ServiceSpec, add, rm []string) error {
	if len(add) == 0 && len(rm) == 0 {
		return nil
	}
	if spec.Endpoint == nil {
		spec.Endpoint = &minswv1.EndpointSpec{}
	}
	for _, r := range rm {
		ports, proto, _ := strings.Cut(r, "/")
		want := minswv1.PortProtocol_PORT_PROTOCOL_TCP
		switch proto {
		case "", "tcp":
		case "udp":
			want = minswv1.PortProtocol_PORT_PROTOCOL_UDP
		default:
			return fmt.Errorf("invalid --publish-rm %q: unknown protocol %q", r, proto)
		}
		pub, target, hasPub := strings.Cut(ports, ":")
		if !hasPub {
			target, pub = pub, ""
		}
		t, err := strconv.ParseUint(target, 10, 16)
		if err != nil || t == 0 {
			return fmt.Errorf("invalid --publish-rm %q: want TARGET[/PROTOCOL] or PUBLISHED:TARGET[/PROTOCOL]", r)
		}
		before := len(spec.Endpoint.Ports)
		spec.Endpoint.Ports = slices.DeleteFunc(spec.Endpoint.Ports, func(p *minswv1.PortConfig) bool {
			return p.GetTargetPort() == uint32(t) && p.GetProtocol() == want &&
				(pub == "" || fmt.Sprint(p.GetPublishedPort()) == pub)
		})
		if len(spec.Endpoint.Ports) == before {
			return fmt.Errorf("--publish-rm %q: the service publishes no such port", r)
		}
	}
	for _, a := range add {
		p, err := parsePort(a)
		if err != nil {
			return err
		}
		spec.Endpoint.Ports = slices.DeleteFunc(spec.Endpoint.Ports, func(o *minswv1.PortConfig) bool {
			return p.GetPublishedPort() != 0 && o.GetPublishedPort() == p.GetPublishedPort() && o.GetProtocol() == p.GetProtocol()
		})
		spec.Endpoint.Ports = append(spec.Endpoint.Ports, p)
	}
	return nil
}

// parsePort reads -p in docker's short (8080:80[/udp]) or long
// (published=8080,target=80,protocol=udp,mode=host) syntax.
func parsePort(s string) (*minswv1.PortConfig, error) {
	bad := fmt.Errorf("invalid port %q: use published:target[/protocol] or published=P,target=T[,protocol=tcp|udp][,mode=ingress|host]", s)
	parse := parseShortPort
	if strings.Contains(s, "=") {
		parse = parseLongPort
	}
	p, err := parse(s, bad)
	if err != nil {
		return nil, err
	}
	if p.TargetPort == 0 {
		return nil, bad
	}
	return p, nil
}

// portNumber is a port of -p: 1 to 65535.
func portNumber(v string, bad error) (uint32, error) {
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil || n == 0 {
		return 0, bad
	}
	return uint32(n), nil
}

// parseLongPort reads published=P,target=T[,protocol=...][,mode=...].
func parseLongPort(s string, bad error) (*minswv1.PortConfig, error) {
	p := &minswv1.PortConfig{}
	for _, kv := range strings.Split(s, ",") {
		var err error
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "published":
			p.PublishedPort, err = portNumber(v, bad)
		case "target":
			p.TargetPort, err = portNumber(v, bad)
		case "protocol":
			if v == "udp" {
				p.Protocol = minswv1.PortProtocol_PORT_PROTOCOL_UDP
			} else if v != "tcp" {
				err = bad
			}
		case "mode":
			if v == "host" {
				p.PublishMode = minswv1.PublishMode_PUBLISH_MODE_HOST
			} else if v != "ingress" {
				err = bad
			}
		default:
			err = bad
		}
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

// parseShortPort reads [published:]target[/protocol].
func parseShortPort(s string, bad error) (*minswv1.PortConfig, error) {
	p := &minswv1.PortConfig{}
	ports, proto, _ := strings.Cut(s, "/")
	switch proto {
	case "", "tcp":
	case "udp":
		p.Protocol = minswv1.PortProtocol_PORT_PROTOCOL_UDP
	default:
		return nil, bad
	}
	pub, target, ok := strings.Cut(ports, ":")
	if !ok {
		target, pub = pub, ""
	}
	var err error
	if p.TargetPort, err = portNumber(target, bad); err != nil {
		return nil, err
	}
	if pub != "" {
		if p.PublishedPort, err = portNumber(pub, bad); err != nil {
			return nil, err
		}
	}
	return p, nil
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

// serviceCounts holds "running/desired" per service ID.
type serviceCounts struct{ running, desired int }

// countTasks counts, per service, the tasks running and meant to run on
// nodes that are not down, as docker's service ls does.
func countTasks(services []*minswv1.Service, tasks []*minswv1.Task, nodes []*minswv1.Node) map[string]serviceCounts {
	down := map[string]bool{}
	for _, n := range nodes {
		if n.GetStatus().GetState() == minswv1.NodeState_NODE_STATE_DOWN {
			down[n.GetId()] = true
		}
	}
	counts := map[string]serviceCounts{}
	global := map[string]bool{}
	for _, s := range services {
		if s.GetSpec().GetGlobal() != nil {
			global[s.GetId()] = true
			continue
		}
		counts[s.GetId()] = serviceCounts{desired: int(s.GetSpec().GetReplicated().GetReplicas())}
	}
	for _, t := range tasks {
		if down[t.GetNodeId()] || t.GetDesiredState() != minswv1.TaskState_TASK_STATE_RUNNING {
			continue
		}
		sc := counts[t.GetServiceId()]
		if global[t.GetServiceId()] {
			sc.desired++
		}
		if t.GetStatus().GetState() == minswv1.TaskState_TASK_STATE_RUNNING {
			sc.running++
		}
		counts[t.GetServiceId()] = sc
	}
	return counts
}

// portsString shows published ports as "*:8080->80/tcp".
type serviceRow struct {
	ID, Name, Mode, Replicas, Image, Ports string
}

var serviceTable = format.Table{
	Default: "table {{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}\t{{.Ports}}",
	Quiet:   "{{.ID}}",
	Headers: map[string]string{"ID": "ID", "Name": "NAME", "Mode": "MODE", "Replicas": "REPLICAS", "Image": "IMAGE", "Ports": "PORTS"},
}

func serviceRows(services []*minswv1.Service, tasks []*minswv1.Task, nodes []*minswv1.Node) []any {
	services = slices.Clone(services)
	slices.SortStableFunc(services, func(a, b *minswv1.Service) int { return strings.Compare(a.GetSpec().GetName(), b.GetSpec().GetName()) })
	counts := countTasks(services, tasks, nodes)
	rows := make([]any, len(services))
	for i, s := range services {
		mode := "replicated"
		if s.GetSpec().GetGlobal() != nil {
			mode = "global"
		}
		ports := s.GetEndpoint().GetPorts()
		if len(ports) == 0 {
			ports = s.GetSpec().GetEndpoint().GetPorts()
		}
		n := counts[s.GetId()]
		replicas := fmt.Sprintf("%d/%d", n.running, n.desired)
		if m, r, ok := jobColumns(s, tasks, nodes); ok {
			mode, replicas = m, r
		}
		rows[i] = serviceRow{
			ID:       format.TruncateID(s.GetId()),
			Name:     s.GetSpec().GetName(),
			Mode:     mode,
			Replicas: replicas,
			Image:    format.Image(s.GetSpec().GetTask().GetContainer().GetImage()),
			Ports:    task.PortsString(ports),
		}
	}
	return rows
}

func newListCommand(c *cli.CLI) *cobra.Command {
	var quiet bool
	var filter cli.ListFilter
	var tmpl string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List services",
		Args:    cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			fs, err := filter.Request()
			if err != nil {
				return err
			}
			services, err := cl.Control.ListServices(ctx, &minswv1.ListServicesRequest{Filters: fs})
			if err != nil {
				return err
			}
			return WriteTable(ctx, c, cl, services.GetServices(), quiet, tmpl)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display IDs")
	cmd.Flags().StringVar(&tmpl, "format", "", "Pretty-print services using a Go template")
	filter.Add(cmd)
	return cmd
}

// WriteTable prints services as `service ls` does, with their
// running task counts (unless quiet).
func WriteTable(ctx context.Context, c *cli.CLI, cl *client.Client, services []*minswv1.Service, quiet bool, tmpl string) error {
	var tasks []*minswv1.Task
	var nodes []*minswv1.Node
	if !quiet {
		t, err := cl.Control.ListTasks(ctx, &minswv1.ListTasksRequest{DesiredStates: []minswv1.TaskState{minswv1.TaskState_TASK_STATE_RUNNING, minswv1.TaskState_TASK_STATE_COMPLETE}})
		if err != nil {
			return err
		}
		n, err := cl.Control.ListNodes(ctx, &minswv1.ListNodesRequest{})
		if err != nil {
			return err
		}
		tasks, nodes = t.GetTasks(), n.GetNodes()
	}
	return serviceTable.Write(c.Out, tmpl, quiet, serviceRows(services, tasks, nodes))
}

// writeTaskTable prints the tasks req selects as `service ps` does.
func newPsCommand(c *cli.CLI) *cobra.Command {
	var quiet, noTrunc bool
	var psFilter cli.ListFilter
	var tmpl string
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] SERVICE [SERVICE...]",
		Short: "List the tasks of one or more services",
		Args:  cli.MinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var ids []string
			for _, ref := range args {
				s, err := cl.Control.GetService(ctx, &minswv1.GetServiceRequest{Ref: ref})
				if err != nil {
					return err
				}
				ids = append(ids, s.GetService().GetId())
			}
			fs, err := psFilter.Request()
			if err != nil {
				return err
			}
			return task.WriteTable(ctx, c, cl, &minswv1.ListTasksRequest{ServiceIds: ids, Filters: fs}, quiet, noTrunc, tmpl)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display task IDs")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "Do not truncate output")
	cmd.Flags().StringVar(&tmpl, "format", "", "Pretty-print tasks using a Go template")
	psFilter.Add(cmd)
	return cmd
}

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
	printUpdateStatus(&w, s, time.Now())
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

func newUpdateCommand(c *cli.CLI) *cobra.Command {
	var sf specFlags
	var stf storageFlags
	var uf updateConfigFlags
	var cf containerFlags
	var hf healthFlags
	var w WaitFlags
	var image string
	var envAdd, envRm, conAdd, conRm, labelAdd, labelRm, netAdd, netRm, pubAdd, pubRm []string
	var args []string
	var force, rollback bool
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] SERVICE",
		Short: "Update a service",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, posArgs []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			changed := cmd.Flags().Changed
			change := func(spec *minswv1.ServiceSpec) error {
				if spec.Task == nil {
					spec.Task = &minswv1.TaskSpec{}
				}
				if spec.Task.Container == nil {
					spec.Task.Container = &minswv1.ContainerSpec{}
				}
				ct := spec.Task.Container
				if changed("replicas") {
					if j := spec.GetReplicatedJob(); j != nil {
						j.TotalCompletions = sf.replicas
					} else if spec.GetReplicated() == nil {
						return errors.New("replicas can only be used with replicated or replicated-job mode")
					} else {
						spec.GetReplicated().Replicas = sf.replicas
					}
				}
				if changed("image") {
					ct.Image = image
				}
				if changed("args") {
					ct.Args = args
				}
				ct.Env = removeKeys(ct.Env, envRm)
				ct.Env = addKeyed(ct.Env, envAdd)
				if changed("constraint-rm") || changed("constraint-add") {
					if spec.Task.Placement == nil {
						spec.Task.Placement = &minswv1.Placement{}
					}
					cs := slices.DeleteFunc(spec.Task.Placement.Constraints, func(s string) bool { return slices.Contains(conRm, s) })
					for _, a := range conAdd {
						if !slices.Contains(cs, a) {
							cs = append(cs, a)
						}
					}
					spec.Task.Placement.Constraints = cs
				}
				for _, k := range labelRm {
					delete(spec.Labels, k)
				}
				if len(labelAdd) > 0 && spec.Labels == nil {
					spec.Labels = map[string]string{}
				}
				for k, v := range cli.ParseKV(labelAdd) {
					spec.Labels[k] = v
				}
				spec.Task.Networks = slices.DeleteFunc(spec.Task.Networks, func(n *minswv1.NetworkAttachmentConfig) bool {
					return slices.Contains(netRm, n.GetTarget())
				})
				for _, n := range netAdd {
					spec.Task.Networks = append(spec.Task.Networks, &minswv1.NetworkAttachmentConfig{Target: n})
				}
				if changed("restart-condition") || changed("restart-delay") || changed("restart-max-attempts") || changed("restart-window") {
					if spec.Task.Restart == nil {
						spec.Task.Restart = &minswv1.RestartPolicy{}
					}
					if changed("restart-condition") {
						cond, err := parseRestartCondition(sf.restartCondition)
						if err != nil {
							return err
						}
						spec.Task.Restart.Condition = cond
					}
					if changed("restart-delay") {
						spec.Task.Restart.Delay = durationpb.New(sf.restartDelay)
					}
					if changed("restart-max-attempts") {
						spec.Task.Restart.MaxAttempts = sf.restartMaxAttempt
					}
					if changed("restart-window") {
						spec.Task.Restart.Window = durationpb.New(sf.restartWindow)
					}
				}
				if err := applyPublishChanges(spec, pubAdd, pubRm); err != nil {
					return err
				}
				if err := hf.apply(cmd.Flags(), spec.Task.Container); err != nil {
					return err
				}
				if err := uf.applyUpdate(cmd.Flags(), spec); err != nil {
					return err
				}
				if err := cf.applyUpdate(cmd, spec); err != nil {
					return err
				}
				if err := stf.applyUpdate(ct); err != nil {
					return err
				}
				if force {
					spec.Task.ForceUpdate++
				}
				return nil
			}
			var svc *minswv1.Service
			if rollback {
				resp, err := cl.Control.GetService(cmd.Context(), &minswv1.GetServiceRequest{Ref: posArgs[0]})
				if err != nil {
					return err
				}
				up, err := cl.Control.UpdateService(cmd.Context(), &minswv1.UpdateServiceRequest{
					Ref: resp.GetService().GetId(), Version: resp.GetService().GetMeta().GetVersion(), Rollback: true,
				})
				if err != nil {
					return err
				}
				svc = up.GetService()
			} else if svc, err = updateService(cmd.Context(), cl, posArgs[0], change); err != nil {
				return err
			}
			fmt.Fprintln(c.Out, posArgs[0])
			w.rollback = rollback
			if isJobSpec(svc.GetSpec()) {
				return waitForJob(cmd.Context(), c, cl, svc.GetId(), w)
			}
			return Wait(cmd.Context(), c, cl, svc.GetId(), svc.GetSpec().GetName(), w)
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&sf.replicas, "replicas", 1, "Number of tasks")
	stf.registerUpdate(f)
	uf.register(f)
	hf.register(f)
	f.StringVar(&image, "image", "", "Service image tag")
	f.StringArrayVar(&args, "args", nil, "Service command args")
	f.StringArrayVar(&envAdd, "env-add", nil, "Add or update an environment variable")
	f.StringArrayVar(&envRm, "env-rm", nil, "Remove an environment variable")
	f.StringArrayVar(&conAdd, "constraint-add", nil, "Add or update a placement constraint")
	f.StringArrayVar(&conRm, "constraint-rm", nil, "Remove a constraint")
	f.StringArrayVar(&labelAdd, "label-add", nil, "Add or update a service label")
	f.StringArrayVar(&labelRm, "label-rm", nil, "Remove a label by its key")
	f.StringArrayVar(&netAdd, "network-add", nil, "Add a network")
	f.StringArrayVar(&netRm, "network-rm", nil, "Remove a network")
	f.StringArrayVar(&pubAdd, "publish-add", nil, "Add or update a published port (as -p)")
	f.StringArrayVar(&pubRm, "publish-rm", nil, "Remove a published port by its target port (TARGET[/PROTOCOL] or PUBLISHED:TARGET[/PROTOCOL])")
	f.StringVar(&sf.restartCondition, "restart-condition", "any", `Restart when condition is met ("none", "on-failure", "any")`)
	f.DurationVar(&sf.restartDelay, "restart-delay", 5*time.Second, "Delay between restart attempts (ns|us|ms|s|m|h)")
	f.Uint64Var(&sf.restartMaxAttempt, "restart-max-attempts", 0, "Maximum number of restarts before giving up")
	f.DurationVar(&sf.restartWindow, "restart-window", 0, "Window used to evaluate the restart policy (ns|us|ms|s|m|h)")
	f.BoolVar(&force, "force", false, "Force update even if no changes require it")
	f.BoolVar(&rollback, "rollback", false, "Rollback to previous specification")
	cf.registerUpdate(f)
	w.register(cmd)
	return cmd
}

// removeKeys drops the KEY=... entries named by keys (docker's --env-rm).
func removeKeys(list, keys []string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(keys, k)
	})
}

// addKeyed sets KEY=VALUE entries, replacing an entry with the same key.
func addKeyed(list, add []string) []string {
	for _, kv := range add {
		k, _, _ := strings.Cut(kv, "=")
		list = removeKeys(list, []string{k})
		list = append(list, kv)
	}
	return list
}

func newRemoveCommand(c *cli.CLI) *cobra.Command {
	return &cobra.Command{
		Use:     "rm SERVICE [SERVICE...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more services",
		Args:    cli.MinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			_, err = cli.EachRef(args, func(ref string) (string, error) {
				if _, err := cl.Control.RemoveService(cmd.Context(), &minswv1.RemoveServiceRequest{Ref: ref}); err != nil {
					return "", err
				}
				fmt.Fprintln(c.Out, ref)
				return ref, nil
			})
			return err
		},
	}
}

func newLogsCommand(c *cli.CLI) *cobra.Command {
	var (
		follow bool
		tail   string
		opts   logPrefixOptions
	)
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] SERVICE|TASK",
		Short: "Fetch the logs of a service or task",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := parseTail(tail)
			if err != nil {
				return err
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			// docker pads the prefix to the widest slot of the service.
			if resp, err := cl.Control.GetService(ctx, &minswv1.GetServiceRequest{Ref: args[0]}); err == nil {
				if r := resp.GetService().GetSpec().GetReplicated(); r != nil {
					opts.slotWidth = len(strconv.FormatUint(r.GetReplicas(), 10))
				}
			}
			req := &minswv1.ServiceLogsRequest{Ref: args[0], Follow: follow, Tail: int32(n)}
			if err := opts.times.request(req, c.Now()); err != nil {
				return err
			}
			stream, err := cl.Control.ServiceLogs(ctx, req)
			if err != nil {
				return err
			}
			failed := 0
			for {
				line, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					if ctx.Err() != nil {
						return nil // ctrl-C ends a follow
					}
					return err
				}
				if e := line.GetError(); e != "" {
					failed++
					fmt.Fprintf(c.Err, "error from %s: %s\n", logPrefix(line, opts), e)
					continue
				}
				out := c.Out
				if line.GetStderr() {
					out = c.Err
				}
				if _, err := io.WriteString(out, formatLogLine(line, opts)); err != nil {
					return err
				}
			}
			if failed > 0 {
				return fmt.Errorf("the logs of %d %s could not be read", failed, cli.Plural(failed, "task"))
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "Follow log output")
	cmd.Flags().StringVarP(&tail, "tail", "n", "all", "Number of lines to show from the end of the logs")
	cmd.Flags().BoolVar(&opts.noTaskIDs, "no-task-ids", false, "Do not include task IDs in output")
	cmd.Flags().BoolVar(&opts.noTrunc, "no-trunc", false, "Do not truncate output")
	cmd.Flags().BoolVar(&opts.raw, "raw", false, "Do not neatly format logs")
	addLogTimeFlags(cmd, &opts.times)
	return cmd
}

// parseTail reads --tail: a number of lines, or "all" (-1).
func parseTail(tail string) (int64, error) {
	if tail == "all" {
		return -1, nil
	}
	v, err := strconv.ParseInt(tail, 10, 32)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid value for --tail %q: a number of lines or \"all\"", tail)
	}
	return v, nil
}

// logPrefixOptions are service logs' formatting flags.
type logPrefixOptions struct {
	noTaskIDs, noTrunc, raw bool
	// slotWidth is the digits of the service's replica count: shorter
	// slots are padded so the columns line up, as docker does.
	slotWidth int
	times     logTimeOptions
}

// logPrefix is docker's task context: <service>.<slot>.<id12>@<node>,
// padded to the widest slot.
func logPrefix(l *minswv1.LogLine, o logPrefixOptions) string {
	id := l.GetTaskId()
	base := strings.TrimSuffix(l.GetTaskName(), "."+id)
	slot := base[strings.LastIndexByte(base, '.')+1:]
	name := base
	if !o.noTaskIDs {
		if !o.noTrunc && len(id) > 12 {
			id = id[:12]
		}
		name += "." + id
	}
	pad := ""
	if o.slotWidth > len(slot) {
		pad = strings.Repeat(" ", o.slotWidth-len(slot))
	}
	return name + "@" + l.GetNodeName() + pad
}

// formatLogLine is one line as service logs prints it:
// "web.1.pwi87g86kbxd@swarm-worker1    | line", or the bare line with raw.
func formatLogLine(l *minswv1.LogLine, o logPrefixOptions) string {
	data := string(l.GetData())
	if !strings.HasSuffix(data, "\n") {
		data += "\n"
	}
	if o.raw {
		return o.times.decorate(l, "", data)
	}
	return o.times.decorate(l, logPrefix(l, o)+"    | ", data)
}
