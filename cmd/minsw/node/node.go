// Package node holds `minsw node`: ls, ps, inspect, promote, demote, update
// and rm, as docker's node commands, over the Control API.
package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/minsw/minsw/client"
	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/cmd/minsw/internal/format"
	"github.com/minsw/minsw/cmd/minsw/internal/inspect"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// NewCommand is `minsw node`.
func NewCommand(c *cli.CLI) *cobra.Command {
	cmd := &cobra.Command{Use: "node", Short: "Manage Swarm nodes", Args: cli.NoArgs}
	cmd.AddCommand(
		newListCommand(c),
		newPsCommand(c),
		newInspectCommand(c),
		newRoleCommand(c, "promote", minswv1.NodeRole_NODE_ROLE_MANAGER),
		newRoleCommand(c, "demote", minswv1.NodeRole_NODE_ROLE_WORKER),
		newUpdateCommand(c),
		newRemoveCommand(c),
	)
	return cmd
}

type nodeRow struct {
	ID            string
	Self          bool
	Hostname      string
	Status        string
	Availability  string
	ManagerStatus string
	EngineVersion string
	TLSStatus     string
}

var nodeTable = format.Table{
	// The ID is shown whole, as docker's node ls does; " *" marks this node.
	Default: "table {{.ID}} {{if .Self}}*{{else}} {{end}}\t{{.Hostname}}\t{{.Status}}\t{{.Availability}}\t{{.ManagerStatus}}\t{{.EngineVersion}}",
	Quiet:   "{{.ID}}",
	Headers: map[string]string{
		"ID": "ID", "Hostname": "HOSTNAME", "Status": "STATUS", "Availability": "AVAILABILITY",
		"ManagerStatus": "MANAGER STATUS", "EngineVersion": "ENGINE VERSION", "TLSStatus": "TLS STATUS",
	},
}

func managerStatus(n *minswv1.Node) string {
	ms := n.GetManagerStatus()
	if ms == nil {
		return ""
	}
	if ms.GetLeader() {
		return "Leader"
	}
	return cli.EnumWord(ms.GetReachability().String(), "REACHABILITY_")
}

func nodeRows(nodes []*minswv1.Node, self string) []any {
	nodes = slices.Clone(nodes)
	slices.SortStableFunc(nodes, func(a, b *minswv1.Node) int {
		return strings.Compare(a.GetDescription().GetHostname(), b.GetDescription().GetHostname())
	})
	rows := make([]any, len(nodes))
	for i, n := range nodes {
		rows[i] = nodeRow{
			ID:            n.GetId(),
			Self:          n.GetId() == self,
			Hostname:      n.GetDescription().GetHostname(),
			Status:        cli.EnumWord(n.GetStatus().GetState().String(), "NODE_STATE_"),
			Availability:  cli.EnumWord(n.GetSpec().GetAvailability().String(), "NODE_AVAILABILITY_"),
			ManagerStatus: managerStatus(n),
			EngineVersion: n.GetDescription().GetEngineVersion(),
			TLSStatus:     "Ready",
		}
	}
	return rows
}

func newListCommand(c *cli.CLI) *cobra.Command {
	var quiet bool
	var filter cli.ListFilter
	var tmpl string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List nodes in the swarm",
		Args:    cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			fs, err := filter.Request()
			if err != nil {
				return err
			}
			resp, err := cl.Control.ListNodes(cmd.Context(), &minswv1.ListNodesRequest{Filters: fs})
			if err != nil {
				return err
			}
			if err := nodeTable.Write(c.Out, tmpl, quiet, nodeRows(resp.GetNodes(), cli.LocalNodeID(cmd.Context(), cl))); err != nil {
				return err
			}
			if !quiet {
				writeDuplicateHostnames(c.Err, resp.GetNodes())
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display IDs")
	cmd.Flags().StringVar(&tmpl, "format", "", "Pretty-print nodes using a Go template")
	filter.Add(cmd)
	return cmd
}

func newInspectCommand(c *cli.CLI) *cobra.Command {
	var pretty bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] self|NODE [NODE...]",
		Short: "Display detailed information on one or more nodes",
		Args:  cli.MinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			nodes, errs := cli.EachRef(args, func(ref string) (*minswv1.Node, error) {
				if ref == "self" {
					ref = cli.LocalNodeID(cmd.Context(), cl)
				}
				resp, err := cl.Control.GetNode(cmd.Context(), &minswv1.GetNodeRequest{Ref: ref})
				return resp.GetNode(), err
			})
			if err := inspect.Write(c.Out, nodes, pretty, func(n *minswv1.Node) { printNodePretty(c, n) }); err != nil {
				return err
			}
			return errs
		},
	}
	cmd.Flags().BoolVar(&pretty, "pretty", false, "Print the information in a human friendly format")
	return cmd
}

func printNodePretty(c *cli.CLI, n *minswv1.Node) {
	var w strings.Builder
	defer func() { io.WriteString(c.Out, cli.TabAlign(w.String(), 24)) }()
	fmt.Fprintf(&w, "ID:\t%s\n", n.GetId())
	if len(n.GetSpec().GetLabels()) > 0 {
		fmt.Fprintln(&w, "Labels:")
		for _, k := range cli.SortedKeys(n.GetSpec().GetLabels()) {
			fmt.Fprintf(&w, " - %s=%s\n", k, n.GetSpec().GetLabels()[k])
		}
	}
	fmt.Fprintf(&w, "Hostname:\t%s\n", n.GetDescription().GetHostname())
	if t := n.GetMeta().GetCreatedAt(); t != nil {
		fmt.Fprintf(&w, "Joined at:\t%s\n", t.AsTime().Local())
	}
	fmt.Fprintln(&w, "Status:")
	fmt.Fprintf(&w, " State:\t%s\n", cli.EnumWord(n.GetStatus().GetState().String(), "NODE_STATE_"))
	if m := n.GetStatus().GetMessage(); m != "" {
		fmt.Fprintf(&w, " Message:\t%s\n", m)
	}
	fmt.Fprintf(&w, " Availability:\t%s\n", cli.EnumWord(n.GetSpec().GetAvailability().String(), "NODE_AVAILABILITY_"))
	fmt.Fprintf(&w, " Address:\t%s\n", n.GetStatus().GetAddr())
	if ms := n.GetManagerStatus(); ms != nil {
		fmt.Fprintln(&w, "Manager Status:")
		fmt.Fprintf(&w, " Address:\t%s\n", ms.GetAddr())
		fmt.Fprintf(&w, " Raft Status:\t%s\n", cli.EnumWord(ms.GetReachability().String(), "REACHABILITY_"))
		leader := "No"
		if ms.GetLeader() {
			leader = "Yes"
		}
		fmt.Fprintf(&w, " Leader:\t%s\n", leader)
	}
	fmt.Fprintln(&w, "Platform:")
	fmt.Fprintf(&w, " Operating System:\t%s\n", n.GetDescription().GetOs())
	fmt.Fprintf(&w, " Architecture:\t%s\n", n.GetDescription().GetArchitecture())
	printNodeEngine(&w, n)
}

// updateNode reads a node, lets change edit its spec, and writes it back
// with the version read, so a concurrent change is refused, not lost.
func updateNode(ctx context.Context, cl *client.Client, ref string, change func(*minswv1.Node) error) error {
	resp, err := cl.Control.GetNode(ctx, &minswv1.GetNodeRequest{Ref: ref})
	if err != nil {
		return err
	}
	n := resp.GetNode()
	if n.Spec == nil {
		n.Spec = &minswv1.NodeSpec{}
	}
	if err := change(n); err != nil {
		return err
	}
	_, err = cl.Control.UpdateNode(ctx, &minswv1.UpdateNodeRequest{Ref: n.GetId(), Version: n.GetMeta().GetVersion(), Spec: n.GetSpec()})
	return err
}

// errAlready stops an update that would change nothing.
type errAlready struct{ msg string }

func (e errAlready) Error() string { return e.msg }

func newRoleCommand(c *cli.CLI, verb string, role minswv1.NodeRole) *cobra.Command {
	short := "Promote one or more nodes to manager in the swarm"
	if verb == "demote" {
		short = "Demote one or more nodes from manager in the swarm"
	}
	return &cobra.Command{
		Use:   verb + " NODE [NODE...]",
		Short: short,
		Args:  cli.MinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			var errs []error
			for _, ref := range args {
				err := updateNode(cmd.Context(), cl, ref, func(n *minswv1.Node) error {
					if n.GetSpec().GetDesiredRole() == role {
						if role == minswv1.NodeRole_NODE_ROLE_MANAGER {
							return errAlready{fmt.Sprintf("Node %s is already a manager.", ref)}
						}
						return errAlready{fmt.Sprintf("Node %s is already a worker.", ref)}
					}
					n.Spec.DesiredRole = role
					return nil
				})
				var already errAlready
				switch {
				case err == nil && role == minswv1.NodeRole_NODE_ROLE_MANAGER:
					fmt.Fprintf(c.Out, "Node %s promoted to a manager in the swarm.\n", ref)
				case err == nil:
					fmt.Fprintf(c.Out, "Manager %s demoted in the swarm.\n", ref)
				case errors.As(err, &already):
					fmt.Fprintln(c.Out, already.msg)
				default:
					errs = append(errs, err)
				}
			}
			return cli.MultiError(errs)
		},
	}
}

func newUpdateCommand(c *cli.CLI) *cobra.Command {
	var availability, role string
	var labelAdd, labelRm []string
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] NODE",
		Short: "Update a node",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			err = updateNode(cmd.Context(), cl, args[0], func(n *minswv1.Node) error {
				if cmd.Flags().Changed("availability") {
					v, err := cli.Availability(availability)
					if err != nil {
						return err
					}
					n.Spec.Availability = v
				}
				if cmd.Flags().Changed("role") {
					v, ok := minswv1.NodeRole_value["NODE_ROLE_"+strings.ToUpper(role)]
					if !ok {
						return fmt.Errorf("invalid role %q: must be worker or manager", role)
					}
					n.Spec.DesiredRole = minswv1.NodeRole(v)
				}
				for _, kv := range labelAdd {
					k, v, _ := strings.Cut(kv, "=")
					if n.Spec.Labels == nil {
						n.Spec.Labels = map[string]string{}
					}
					n.Spec.Labels[k] = v
				}
				for _, k := range labelRm {
					if _, ok := n.Spec.Labels[k]; !ok {
						return fmt.Errorf("key %s doesn't exist in node's labels", k)
					}
					delete(n.Spec.Labels, k)
				}
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out, args[0])
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&availability, "availability", "", `Availability of the node ("active", "pause", "drain")`)
	f.StringVar(&role, "role", "", `Role of the node ("worker", "manager")`)
	f.StringArrayVar(&labelAdd, "label-add", nil, "Add or update a node label (key=value)")
	f.StringArrayVar(&labelRm, "label-rm", nil, "Remove a node label if exists")
	return cmd
}

func newRemoveCommand(c *cli.CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] NODE [NODE...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more nodes from the swarm",
		Args:    cli.MinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			return c.RemoveEach(args, func(ref string) error {
				_, err := cl.Control.RemoveNode(cmd.Context(), &minswv1.RemoveNodeRequest{Ref: ref, Force: force})
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force remove a node from the swarm")
	return cmd
}
