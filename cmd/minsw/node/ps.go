package node

import (
	"github.com/spf13/cobra"

	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/cmd/minsw/internal/task"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// newPsCommand is docker's `node ps [NODE...]`: the tasks on one or
// more nodes, this node when none is named ("self" names it too).
func newPsCommand(c *cli.CLI) *cobra.Command {
	var quiet, noTrunc bool
	var filter cli.ListFilter
	var tmpl string
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] [NODE...]",
		Short: "List tasks running on one or more nodes, defaults to current node",
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if len(args) == 0 {
				args = []string{"self"}
			}
			var ids []string
			for _, ref := range args {
				if ref == "self" {
					info, err := cl.Swarm.Info(ctx, &minswv1.InfoRequest{})
					if err != nil {
						return err
					}
					ref = info.GetNodeId()
				}
				n, err := cl.Control.GetNode(ctx, &minswv1.GetNodeRequest{Ref: ref})
				if err != nil {
					return err
				}
				ids = append(ids, n.GetNode().GetId())
			}
			fs, err := filter.Request()
			if err != nil {
				return err
			}
			tasks, err := cl.Control.ListTasks(ctx, &minswv1.ListTasksRequest{NodeIds: ids, Filters: fs})
			if err != nil {
				return err
			}
			names, err := task.Hostnames(ctx, cl)
			if err != nil {
				return err
			}
			return task.Table.Write(c.Out, tmpl, quiet, task.Rows(tasks.GetTasks(), names, c.Now(), noTrunc))
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display task IDs")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "Do not truncate output")
	cmd.Flags().StringVar(&tmpl, "format", "", "Pretty-print tasks using a Go template")
	filter.Add(cmd)
	return cmd
}
