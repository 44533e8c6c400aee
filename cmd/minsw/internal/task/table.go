// Package task prints tasks as docker's service ps, node ps and stack ps
// do: one table, grouped by slot, newest first.
package task

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/minsw/minsw/client"
	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/cmd/minsw/internal/format"
	"github.com/minsw/minsw/cmd/minsw/internal/progress"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// WriteTable lists the tasks req selects and prints them to c.Out.
func WriteTable(ctx context.Context, c *cli.CLI, cl *client.Client, req *minswv1.ListTasksRequest, quiet, noTrunc bool, tmpl string) error {
	tasks, err := cl.Control.ListTasks(ctx, req)
	if err != nil {
		return err
	}
	names, err := Hostnames(ctx, cl)
	if err != nil {
		return err
	}
	return Table.Write(c.Out, tmpl, quiet, Rows(tasks.GetTasks(), names, c.Now(), noTrunc))
}

type row struct {
	ID, Name, Image, Node, DesiredState, CurrentState, Error, Ports string
}

// Table is docker's task table.
var Table = format.Table{
	Default: "table {{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}\t{{.Ports}}",
	Quiet:   "{{.ID}}",
	Headers: map[string]string{
		"ID": "ID", "Name": "NAME", "Image": "IMAGE", "Node": "NODE", "DesiredState": "DESIRED STATE",
		"CurrentState": "CURRENT STATE", "Error": "ERROR", "Ports": "PORTS",
	},
}

// maxErrLength is how much of a task's error service ps shows.
const maxErrLength = 30

// Rows lays out tasks as docker's service ps: grouped by slot (or node
// for global services), newest first, older tasks of a slot as " \_ name".
func Rows(tasks []*minswv1.Task, hostnames map[string]string, now time.Time, noTrunc bool) []any {
	list := bySlot(tasks)
	rows := make([]any, len(list))
	prev := ""
	for i, n := range list {
		name := n.name
		if noTrunc {
			name += "." + n.t.GetId()
		}
		if n.name == prev {
			name = ` \_ ` + name
		}
		prev = n.name
		rows[i] = newRow(n.t, name, hostnames, now, noTrunc)
	}
	return rows
}

// slotTask is a task with its slot's name: <service>.<slot>, or
// <service>.<node> for a global service.
type slotTask struct {
	t    *minswv1.Task
	name string
}

// bySlot names the tasks by slot and sorts them by service, slot and
// name, the newest first within a slot.
func bySlot(tasks []*minswv1.Task) []slotTask {
	list := make([]slotTask, len(tasks))
	for i, t := range tasks {
		name := fmt.Sprintf("%s.%d", t.GetServiceName(), t.GetSlot())
		if t.GetSlot() == 0 {
			name = t.GetServiceName() + "." + t.GetNodeId()
		}
		list[i] = slotTask{t, name}
	}
	slices.SortStableFunc(list, func(a, b slotTask) int {
		if a.t.GetServiceName() != b.t.GetServiceName() {
			return strings.Compare(a.t.GetServiceName(), b.t.GetServiceName())
		}
		if a.t.GetSlot() != b.t.GetSlot() {
			return int(a.t.GetSlot()) - int(b.t.GetSlot())
		}
		if a.name != b.name {
			return strings.Compare(a.name, b.name)
		}
		return b.t.GetMeta().GetCreatedAt().AsTime().Compare(a.t.GetMeta().GetCreatedAt().AsTime())
	})
	return list
}

// newRow is one task's line, named name.
func newRow(t *minswv1.Task, name string, hostnames map[string]string, now time.Time, noTrunc bool) row {
	id, image, errText := t.GetId(), t.GetSpec().GetContainer().GetImage(), t.GetStatus().GetErr()
	if !noTrunc {
		id = format.TruncateID(id)
		image = format.Image(image)
		errText = format.Ellipsis(errText, maxErrLength)
	}
	if errText != "" {
		errText = `"` + errText + `"`
	}
	node := hostnames[t.GetNodeId()]
	if node == "" {
		node = t.GetNodeId()
	}
	current := format.Title(progress.StateName(t.GetStatus().GetState()))
	if ts := t.GetStatus().GetTimestamp(); ts != nil {
		current += " " + strings.ToLower(format.Ago(now, ts.AsTime()))
	}
	return row{
		ID:           id,
		Name:         name,
		Image:        image,
		Node:         node,
		DesiredState: format.Title(progress.StateName(t.GetDesiredState())),
		CurrentState: current,
		Error:        errText,
		Ports:        PortsString(t.GetStatus().GetPorts()),
	}
}

// Hostnames maps node IDs to hostnames.
func Hostnames(ctx context.Context, cl *client.Client) (map[string]string, error) {
	nodes, err := cl.Control.ListNodes(ctx, &minswv1.ListNodesRequest{})
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, n := range nodes.GetNodes() {
		m[n.GetId()] = n.GetDescription().GetHostname()
	}
	return m, nil
}

// PortsString shows published ports as docker's PORTS column: *:8080->80/tcp.
func PortsString(ports []*minswv1.PortConfig) string {
	var out []string
	for _, p := range ports {
		proto := strings.ToLower(strings.TrimPrefix(p.GetProtocol().String(), "PORT_PROTOCOL_"))
		if p.GetPublishedPort() == 0 {
			out = append(out, fmt.Sprintf("%d/%s", p.GetTargetPort(), proto))
			continue
		}
		out = append(out, fmt.Sprintf("*:%d->%d/%s", p.GetPublishedPort(), p.GetTargetPort(), proto))
	}
	return strings.Join(out, ", ")
}

// ContainerName is the container name of a task: <service>.<slot>.<id>, or
// <service>.<node>.<id> for a global task.
func ContainerName(t *minswv1.Task) string {
	if t.GetSlot() == 0 {
		return fmt.Sprintf("%s.%s.%s", t.GetServiceName(), t.GetNodeId(), t.GetId())
	}
	return fmt.Sprintf("%s.%d.%s", t.GetServiceName(), t.GetSlot(), t.GetId())
}
