// Package container holds `minsw container` (ls, inspect, logs, exec) and
// docker's top-level shortcuts to them (ps, logs, exec): this node's
// containers, as the daemon's Containers API shows them.
package container

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/cmd/minsw/internal/format"
	"github.com/minsw/minsw/cmd/minsw/internal/inspect"
	"github.com/minsw/minsw/internal/swarmlabels"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// NewCommand is `minsw container`.
func NewCommand(c *cli.CLI) *cobra.Command {
	cmd := &cobra.Command{Use: "container", Short: "Manage containers", Args: cli.NoArgs}
	cmd.AddCommand(
		NewListCommand(c, "ls"),
		newInspectCommand(c),
		NewLogsCommand(c, "logs"),
		NewExecCommand(c, "exec"),
	)
	return cmd
}

type containerRow struct {
	ID, Image, Command, CreatedAt, RunningFor, Ports, State, Status, Names, Labels string
}

var containerTable = format.Table{
	Default: "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}",
	Quiet:   "{{.ID}}",
	Headers: map[string]string{
		"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT", "RunningFor": "CREATED",
		"Ports": "PORTS", "State": "STATE", "Status": "STATUS", "Names": "NAMES", "Labels": "LABELS",
	},
}

// containerStatus is docker's STATUS column: "Up 19 minutes",
// "Exited (0) 2 minutes ago", "Created".
func containerStatus(ct *minswv1.Container, now time.Time) string {
	switch ct.GetState() {
	case "running":
		return "Up " + format.HumanDuration(now.Sub(cli.AsTime(ct.GetStartedAt()))) + healthSuffix(ct)
	case "exited", "stopped":
		s := fmt.Sprintf("Exited (%d)", ct.GetExitCode())
		if f := cli.AsTime(ct.GetFinishedAt()); !f.IsZero() {
			s += " " + format.Ago(now, f)
		}
		return s
	case "":
		return ""
	}
	return format.Title(ct.GetState())
}

func containerRows(cts []*minswv1.Container, now time.Time, noTrunc bool) []any {
	rows := make([]any, len(cts))
	for i, ct := range cts {
		id := ct.GetId()
		if !noTrunc {
			id = format.TruncateID(id)
		}
		created := ""
		if t := cli.AsTime(ct.GetCreatedAt()); !t.IsZero() {
			created = t.Local().Format("2006-01-02 15:04:05 -0700 MST")
		}
		rows[i] = containerRow{
			ID:         id,
			Image:      listImage(ct.GetImage(), noTrunc),
			Command:    format.Command(ct.GetCommand(), !noTrunc),
			CreatedAt:  created,
			RunningFor: format.Ago(now, cli.AsTime(ct.GetCreatedAt())),
			State:      ct.GetState(),
			Status:     containerStatus(ct, now),
			Names:      ct.GetName(),
			Labels:     cli.LabelString(swarmlabels.Container(ct.GetLabels())),
		}
	}
	return rows
}

// NewListCommand is `container ls`, named use (docker's `ps` too).
func NewListCommand(c *cli.CLI, use string) *cobra.Command {
	var all, quiet, noTrunc bool
	var filter cli.ListFilter
	var tmpl string
	cmd := &cobra.Command{
		Use:   use + " [OPTIONS]",
		Short: "List containers",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			resp, err := cl.Containers.ListContainers(cmd.Context(), &minswv1.ListContainersRequest{All: all})
			if err != nil {
				return err
			}
			cs, err := filterContainers(resp.GetContainers(), &filter)
			if err != nil {
				return err
			}
			return containerTable.Write(c.Out, tmpl, quiet, containerRows(cs, c.Now(), noTrunc))
		},
	}
	if use == "ls" {
		cmd.Aliases = []string{"list", "ps"}
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "Show all containers (default shows just running)")
	f.BoolVarP(&quiet, "quiet", "q", false, "Only display container IDs")
	f.BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	f.StringVar(&tmpl, "format", "", "Pretty-print containers using a Go template")
	filter.Add(cmd)
	return cmd
}

// Docker's container inspect shape, for the fields the API has.
type containerInspect struct {
	ID      string `json:"Id"`
	Created string
	Path    string
	Args    []string
	State   containerState
	Image   string
	Name    string
	Config  containerConfig
}

type containerState struct {
	Status     string
	Running    bool
	Pid        uint32
	ExitCode   int32
	StartedAt  string
	FinishedAt string
	Health     *containerHealth `json:",omitempty"`
}

type containerConfig struct {
	Hostname string
	Image    string
	Cmd      []string
	Labels   map[string]string
}

func inspectContainer(ct *minswv1.Container) containerInspect {
	out := containerInspect{
		ID:      ct.GetId(),
		Created: inspect.Time(ct.GetCreatedAt()),
		Args:    []string{},
		State: containerState{
			Status: ct.GetState(), Running: ct.GetState() == "running", Pid: ct.GetPid(), ExitCode: ct.GetExitCode(),
			StartedAt: inspect.Time(ct.GetStartedAt()), FinishedAt: inspect.Time(ct.GetFinishedAt()),
		},
		Image:  ct.GetImage(),
		Name:   "/" + ct.GetName(),
		Config: containerConfig{Hostname: format.TruncateID(ct.GetId()), Image: ct.GetImage(), Cmd: ct.GetCommand(), Labels: swarmlabels.Container(ct.GetLabels())},
	}
	if cmd := ct.GetCommand(); len(cmd) > 0 {
		out.Path, out.Args = cmd[0], cmd[1:]
	}
	out.State.Health = inspectHealth(ct)
	return out
}

func newInspectCommand(c *cli.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Display detailed information on one or more containers",
		Args:  cli.MinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			objs, errs := cli.EachRef(args, func(ref string) (any, error) {
				resp, err := cl.Containers.InspectContainer(cmd.Context(), &minswv1.InspectContainerRequest{Ref: ref})
				if err != nil {
					return nil, err
				}
				return inspectContainer(resp.GetContainer()), nil
			})
			if objs == nil {
				objs = []any{}
			}
			if err := inspect.WriteJSON(c.Out, objs); err != nil {
				return err
			}
			return errs
		},
	}
}

// NewLogsCommand is `container logs`, named use (docker's `logs` too).
func NewLogsCommand(c *cli.CLI, use string) *cobra.Command {
	var follow bool
	var tail string
	cmd := &cobra.Command{
		Use:   use + " [OPTIONS] CONTAINER",
		Short: "Fetch the logs of a container",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n := int64(-1)
			if tail != "all" {
				v, err := strconv.ParseInt(tail, 10, 32)
				if err != nil || v < 0 {
					return fmt.Errorf("invalid value for --tail %q: a number of lines or \"all\"", tail)
				}
				n = v
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			stream, err := cl.Containers.Logs(cmd.Context(), &minswv1.LogsRequest{Container: args[0], Follow: follow, Tail: int32(n)})
			if err != nil {
				return err
			}
			for {
				msg, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					if cmd.Context().Err() != nil {
						return nil // ctrl-C ends a follow
					}
					return err
				}
				if _, err := c.Out.Write(msg.GetData()); err != nil {
					return err
				}
				if err := writeLogRecords(c, msg.GetRecords()); err != nil {
					return err
				}
			}
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "Follow log output")
	cmd.Flags().StringVarP(&tail, "tail", "n", "all", "Number of lines to show from the end of the logs")
	return cmd
}
