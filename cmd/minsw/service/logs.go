package service

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

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
