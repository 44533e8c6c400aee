package service

import (
	"github.com/spf13/cobra"

	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

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
			return c.RemoveEach(args, func(ref string) error {
				_, err := cl.Control.RemoveService(cmd.Context(), &minswv1.RemoveServiceRequest{Ref: ref})
				return err
			})
		},
	}
}
