package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/minsw/minsw/client"
	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// logsOptions are service logs' flags.
type logsOptions struct {
	follow bool
	tail   string
	prefix logPrefixOptions
}

func newLogsCommand(c *cli.CLI) *cobra.Command {
	var o logsOptions
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] SERVICE|TASK",
		Short: "Fetch the logs of a service or task",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogs(cmd.Context(), c, args[0], o)
		},
	}
	cmd.Flags().BoolVarP(&o.follow, "follow", "f", false, "Follow log output")
	cmd.Flags().StringVarP(&o.tail, "tail", "n", "all", "Number of lines to show from the end of the logs")
	cmd.Flags().BoolVar(&o.prefix.noTaskIDs, "no-task-ids", false, "Do not include task IDs in output")
	cmd.Flags().BoolVar(&o.prefix.noTrunc, "no-trunc", false, "Do not truncate output")
	cmd.Flags().BoolVar(&o.prefix.raw, "raw", false, "Do not neatly format logs")
	addLogTimeFlags(cmd, &o.prefix.times)
	return cmd
}

// runLogs streams the logs of a service or task; a task whose logs could
// not be read is named on stderr and makes the exit status 1.
func runLogs(ctx context.Context, c *cli.CLI, ref string, o logsOptions) error {
	n, err := parseTail(o.tail)
	if err != nil {
		return err
	}
	cl, err := c.Client()
	if err != nil {
		return err
	}
	o.prefix.slotWidth = slotWidth(ctx, cl, ref)
	req := &minswv1.ServiceLogsRequest{Ref: ref, Follow: o.follow, Tail: int32(n)}
	if err := o.prefix.times.request(req, c.Now()); err != nil {
		return err
	}
	stream, err := cl.Control.ServiceLogs(ctx, req)
	if err != nil {
		return err
	}
	failed, err := printLogs(ctx, c, stream, o.prefix)
	if err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("the logs of %d %s could not be read", failed, cli.Plural(failed, "task"))
	}
	return nil
}

// slotWidth is the digits of a replicated service's replica count (docker
// pads the prefix to the widest slot); 0 for a task or another mode.
func slotWidth(ctx context.Context, cl *client.Client, ref string) int {
	resp, err := cl.Control.GetService(ctx, &minswv1.GetServiceRequest{Ref: ref})
	if err != nil {
		return 0
	}
	if r := resp.GetService().GetSpec().GetReplicated(); r != nil {
		return len(strconv.FormatUint(r.GetReplicas(), 10))
	}
	return 0
}

// printLogs copies the stream's lines to stdout or stderr (as the task
// wrote them) until it ends or the user presses Ctrl-C, and counts the
// tasks whose logs failed.
func printLogs(ctx context.Context, c *cli.CLI, stream grpc.ServerStreamingClient[minswv1.LogLine], o logPrefixOptions) (failed int, err error) {
	for {
		line, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return failed, nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return 0, nil // ctrl-C ends a follow
			}
			return failed, err
		}
		if e := line.GetError(); e != "" {
			failed++
			fmt.Fprintf(c.Err, "error from %s: %s\n", logPrefix(line, o), e)
			continue
		}
		out := c.Out
		if line.GetStderr() {
			out = c.Err
		}
		if _, err := io.WriteString(out, formatLogLine(line, o)); err != nil {
			return failed, err
		}
	}
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
