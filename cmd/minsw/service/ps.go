package service

import (
	"github.com/spf13/cobra"

	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/cmd/minsw/internal/task"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

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
