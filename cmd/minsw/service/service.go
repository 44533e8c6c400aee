// Package service holds `minsw service`: create, ls, ps, inspect, scale,
// update, rollback, rm and logs; the option parsers that turn docker's
// flags into a ServiceSpec; the convergence display that follows them.
package service

import (
	"github.com/spf13/cobra"

	"github.com/minsw/minsw/cmd/minsw/internal/cli"
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
