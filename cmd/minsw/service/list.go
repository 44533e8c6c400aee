package service

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/minsw/minsw/client"
	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/cmd/minsw/internal/format"
	"github.com/minsw/minsw/cmd/minsw/internal/task"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

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
