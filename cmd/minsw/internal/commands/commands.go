// Package commands builds minsw's root command from the command
// packages, one per noun, and runs it: the one place that maps an error to
// the user's one-line message and an exit status.
package commands

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/minsw/minsw/client"
	"github.com/minsw/minsw/cmd/minsw/container"
	"github.com/minsw/minsw/cmd/minsw/daemon"
	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/cmd/minsw/internal/inspect"
	"github.com/minsw/minsw/cmd/minsw/lb"
	"github.com/minsw/minsw/cmd/minsw/network"
	"github.com/minsw/minsw/cmd/minsw/node"
	"github.com/minsw/minsw/cmd/minsw/secret"
	"github.com/minsw/minsw/cmd/minsw/service"
	"github.com/minsw/minsw/cmd/minsw/stack"
	"github.com/minsw/minsw/cmd/minsw/swarm"
	"github.com/minsw/minsw/cmd/minsw/system"
	"github.com/minsw/minsw/cmd/minsw/volume"
)

// Execute runs the root command over c and maps its error, once, to a
// one-line message and an exit status.
func Execute(c *cli.CLI, args []string) int {
	defer c.Close()
	root := NewRoot(c)
	root.SetArgs(args)
	root.SetIn(c.In)
	root.SetOut(c.Out)
	root.SetErr(c.Err)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee cli.ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	fmt.Fprintln(c.Err, client.Message(err))
	return 1
}

// NewRoot is the minsw command with every noun's commands under it.
func NewRoot(c *cli.CLI) *cobra.Command {
	root := &cobra.Command{
		Use:           "minsw [OPTIONS] COMMAND",
		Short:         "A Docker Swarm equivalent: one binary that is the node daemon and its CLI",
		SilenceUsage:  true,
		SilenceErrors: true,
		// Global flags before the command are the root's, as docker's:
		// `minsw --host SOCK service create --host db:10.0.0.9` has both.
		TraverseChildren: true,
		CompletionOptions: cobra.CompletionOptions{
			DisableDefaultCmd: true,
		},
	}
	root.PersistentFlags().StringVarP(&c.Host, "host", "H", "", "Daemon socket to connect to (default $"+client.HostEnv+" or "+client.DefaultHost+")")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w\nSee '%s --help'.", err, cmd.CommandPath())
	})
	root.AddCommand(
		swarm.NewCommand(c),
		node.NewCommand(c),
		network.NewCommand(c),
		service.NewCommand(c),
		container.NewCommand(c),
		lb.NewCommand(c),
		secret.NewSecretCommand(c),
		secret.NewConfigCommand(c),
		volume.NewCommand(c),
		stack.NewCommand(c),
		// docker's top-level shortcuts
		container.NewListCommand(c, "ps"),
		container.NewExecCommand(c, "exec"),
		container.NewLogsCommand(c, "logs"),
	)
	root.AddCommand(daemon.NewCommand())
	system.AddCommands(c, root)
	inspect.AddFormats(&c.Out, root)
	cli.RefuseUnknownSubcommands(root)
	return root
}
