package system

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/minsw/minsw/client"
	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/node"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// newInfoCommand is docker's `info`: the client, this node's containers
// and engine, and a Swarm section as docker's.
func newInfoCommand(c *cli.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "info",
		Short: "Display system-wide information",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(c.Out, "Client:\n Version:    %s\n\n", node.Version)
			cl, err := c.Client()
			if err != nil {
				return err
			}
			return writeInfo(cmd.Context(), c.Out, cl)
		},
	}
}

func writeInfo(ctx context.Context, w io.Writer, cl *client.Client) error {
	info, err := cl.Swarm.Info(ctx, &minswv1.InfoRequest{})
	if err != nil {
		return err
	}
	var running, stopped int
	if cs, err := cl.Containers.ListContainers(ctx, &minswv1.ListContainersRequest{All: true}); err == nil {
		for _, ct := range cs.GetContainers() {
			if ct.GetState() == "running" {
				running++
			} else {
				stopped++
			}
		}
	}
	fmt.Fprintf(w, "Server:\n Containers: %d\n  Running: %d\n  Paused: 0\n  Stopped: %d\n Server Version: %s\n",
		running+stopped, running, stopped, node.Version)
	fmt.Fprintf(w, " Swarm: %s\n", info.GetLocalNodeState())
	var self *minswv1.Node
	if info.GetLocalNodeState() != "inactive" {
		fmt.Fprintf(w, "  NodeID: %s\n", info.GetNodeId())
		if info.GetError() != "" {
			fmt.Fprintf(w, "  Error: %s\n", info.GetError())
		}
		fmt.Fprintf(w, "  Is Manager: %t\n", info.GetControlAvailable())
		if info.GetControlAvailable() {
			fmt.Fprintf(w, "  ClusterID: %s\n  Managers: %d\n  Nodes: %d\n", info.GetClusterId(), info.GetManagerCount(), info.GetNodes())
			if n, err := cl.Control.GetNode(ctx, &minswv1.GetNodeRequest{Ref: info.GetNodeId()}); err == nil {
				self = n.GetNode()
			}
		}
		fmt.Fprintf(w, "  Node Address: %s\n", info.GetNodeAddr())
		if len(info.GetManagers()) > 0 {
			fmt.Fprintf(w, "  Manager Addresses:\n   %s\n", strings.Join(info.GetManagers(), "\n   "))
		}
	}
	osName, arch := runtime.GOOS, runtime.GOARCH
	if d := self.GetDescription(); d != nil {
		osName, arch = d.GetOs(), d.GetArchitecture()
		if r := d.GetResources(); r != nil {
			defer fmt.Fprintf(w, " CPUs: %d\n Total Memory: %.2fGiB\n", r.GetNanoCpus()/1e9, float64(r.GetMemoryBytes())/(1<<30))
		}
		fmt.Fprintf(w, " Name: %s\n", d.GetHostname())
	}
	fmt.Fprintf(w, " OSType: %s\n Architecture: %s\n", osName, arch)
	return nil
}
