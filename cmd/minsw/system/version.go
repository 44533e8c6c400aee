// Package system holds `minsw version`, `minsw --version` and `minsw info`.
package system

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/node"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// apiVersion names the gRPC API the CLI speaks.
const apiVersion = "minsw.v1"

// versionLine is `minsw --version`'s answer, as `docker --version`'s.
func versionLine() string { return "minsw version " + node.Version + "\n" }

func newVersionCommand(c *cli.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show the minsw version information",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(c.Out, "Client:\n Version:           %s\n API version:       %s\n Go version:        %s\n OS/Arch:           %s/%s\n",
				node.Version, apiVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			cl, err := c.Client()
			if err != nil {
				return err
			}
			info, err := cl.Swarm.Info(cmd.Context(), &api.InfoRequest{})
			if err != nil {
				// docker prints the client half, then why the server half
				// is missing, and exits 1.
				fmt.Fprintln(c.Out)
				return err
			}
			fmt.Fprintf(c.Out, "\nServer: minsw daemon\n Engine:\n  Version:          %s\n  API version:      %s\n  OS/Arch:          %s/%s\n  Swarm:            %s\n",
				serverVersion(info), apiVersion, runtime.GOOS, runtime.GOARCH, info.GetLocalNodeState())
			return nil
		},
	}
}

// serverVersion is the daemon's version (the same binary as the CLI
// unless it was upgraded apart; the Info call does not carry it yet).
func serverVersion(*api.InfoResponse) string { return node.Version }

// AddCommands adds `minsw version` and the root's --version flag.
func AddCommands(c *cli.CLI, root *cobra.Command) {
	root.AddCommand(newVersionCommand(c), newInfoCommand(c))
	root.Version = node.Version
	root.SetVersionTemplate(versionLine())
}
