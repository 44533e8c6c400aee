package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// RefuseUnknownSubcommands makes every command group (service, node, ...)
// answer an unknown subcommand as docker does, "unknown command" and exit
// status 1, instead of printing its help and succeeding; a group given no
// subcommand still prints its help.
func RefuseUnknownSubcommands(cmd *cobra.Command) {
	for _, sub := range cmd.Commands() {
		RefuseUnknownSubcommands(sub)
	}
	if !cmd.HasSubCommands() || cmd.Run != nil || cmd.RunE != nil {
		return
	}
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		return fmt.Errorf("unknown command: %s %s\nSee '%s --help'.", cmd.CommandPath(), strings.Join(args, " "), cmd.CommandPath())
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
}
