package network

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/minsw/minsw/client"
	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// IngressWarning is docker's, with minsw's name.
const IngressWarning = "WARNING! Before removing the routing-mesh network, make sure all the nodes in your swarm run the same minsw version. " +
	"Otherwise, removal may not be effective and functionality of newly created ingress networks will be impaired.\n" +
	"Are you sure you want to continue? [y/N] "

func addIngressRemovalFlag(cmd *cobra.Command, force *bool) {
	cmd.Flags().BoolVarP(force, "force", "f", false, "Do not ask before removing the ingress (routing-mesh) network")
}

// confirmIngressRemoval asks, as docker does, before the routing mesh is
// removed, and drops the ingress network from refs unless the user says
// yes (or --force). The manager still refuses while services publish ports
// through it.
func confirmIngressRemoval(ctx context.Context, c *cli.CLI, cl *client.Client, refs []string, force bool) ([]string, error) {
	if force {
		return refs, nil
	}
	var in *bufio.Reader
	out := refs[:0:0]
	for _, ref := range refs {
		resp, err := cl.Control.GetNetwork(ctx, &minswv1.GetNetworkRequest{Ref: ref})
		if err != nil || !resp.GetNetwork().GetSpec().GetIngress() {
			out = append(out, ref) // rm itself reports a network it cannot find
			continue
		}
		fmt.Fprint(c.Out, IngressWarning)
		if in == nil {
			in = bufio.NewReader(c.In)
		}
		line, _ := in.ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a == "y" || a == "yes" {
			out = append(out, ref)
		}
	}
	return out, nil
}
