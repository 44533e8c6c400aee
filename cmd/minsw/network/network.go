// Package network holds `minsw network`: create, ls (with the node's local
// networks), inspect (endpoints and peers as docker shows them) and rm
// (asking before the routing mesh goes).
package network

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/minsw/minsw/client"
	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/cmd/minsw/internal/format"
	"github.com/minsw/minsw/cmd/minsw/internal/inspect"
	"github.com/minsw/minsw/cmd/minsw/internal/task"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// NewCommand is `minsw network`.
func NewCommand(c *cli.CLI) *cobra.Command {
	cmd := &cobra.Command{Use: "network", Short: "Manage networks", Args: cli.NoArgs}
	cmd.AddCommand(newCreateCommand(c), newListCommand(c), newInspectCommand(c), newRemoveCommand(c))
	return cmd
}

func newCreateCommand(c *cli.CLI) *cobra.Command {
	var spec minswv1.NetworkSpec
	var labels, opts []string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			spec.Name = args[0]
			spec.Labels = cli.ParseKV(labels)
			spec.DriverOpts = cli.ParseKV(opts)
			req := &minswv1.CreateNetworkRequest{Spec: &spec, IdempotencyKey: cli.NewIdempotencyKey()}
			resp, err := cli.RetryUnknown(cmd.Context(), c.UnknownRetries, func(ctx context.Context) (*minswv1.CreateNetworkResponse, error) {
				return cl.Control.CreateNetwork(ctx, req)
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out, resp.GetNetwork().GetId())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&spec.Driver, "driver", "d", "overlay", "Driver to manage the Network")
	f.StringVar(&spec.Subnet, "subnet", "", "Subnet in CIDR format that represents a network segment")
	f.StringVar(&spec.Gateway, "gateway", "", "IPv4 Gateway for the master subnet")
	f.BoolVar(&spec.Attachable, "attachable", false, "Enable manual container attachment")
	f.BoolVar(&spec.Internal, "internal", false, "Restrict external access to the network")
	f.BoolVar(&spec.Ingress, "ingress", false, "Create swarm routing-mesh network")
	f.StringArrayVar(&labels, "label", nil, "Set metadata on a network")
	f.StringArrayVarP(&opts, "opt", "o", nil, "Set driver specific options")
	return cmd
}

type networkRow struct {
	ID, Name, Driver, Scope, IPv6, Internal, Labels, CreatedAt string
}

var networkTable = format.Table{
	Default: "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
	Quiet:   "{{.ID}}",
	Headers: map[string]string{
		"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
		"IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT",
	},
}

func networkRows(nets []*minswv1.Network, noTrunc bool) []any {
	nets = slices.Clone(nets)
	slices.SortStableFunc(nets, func(a, b *minswv1.Network) int { return strings.Compare(a.GetSpec().GetName(), b.GetSpec().GetName()) })
	rows := make([]any, len(nets))
	for i, n := range nets {
		id := n.GetId()
		if !noTrunc {
			id = format.TruncateID(id)
		}
		created := ""
		if t := n.GetMeta().GetCreatedAt(); t != nil {
			created = t.AsTime().Local().Format("2006-01-02 15:04:05.999999999 -0700 MST")
		}
		rows[i] = networkRow{
			ID: id, Name: n.GetSpec().GetName(), Driver: n.GetSpec().GetDriver(), Scope: "swarm",
			IPv6: "false", Internal: fmt.Sprint(n.GetSpec().GetInternal()), Labels: cli.LabelString(n.GetSpec().GetLabels()), CreatedAt: created,
		}
	}
	return rows
}

func localNetworkRows(nets []*minswv1.LocalNetwork, noTrunc bool) []any {
	rows := make([]any, len(nets))
	for i, n := range nets {
		id := n.GetId()
		if !noTrunc {
			id = format.TruncateID(id)
		}
		rows[i] = networkRow{ID: id, Name: n.GetName(), Driver: n.GetDriver(), Scope: "local", IPv6: "false", Internal: "false"}
	}
	return rows
}

// sortNetworkRows orders rows by name, as docker's network ls does.
func sortNetworkRows(rows []any) {
	slices.SortStableFunc(rows, func(a, b any) int { return strings.Compare(a.(networkRow).Name, b.(networkRow).Name) })
}

func newListCommand(c *cli.CLI) *cobra.Command {
	var quiet, noTrunc bool
	var filter cli.ListFilter
	var tmpl string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
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
			resp, err := cl.Control.ListNetworks(cmd.Context(), &minswv1.ListNetworksRequest{Filters: fs})
			if err != nil {
				return err
			}
			rows := networkRows(resp.GetNetworks(), noTrunc)
			// The node's own networks (scope local), as docker lists them;
			// an older daemon without the call just shows the swarm's.
			if local, err := cl.Networks.ListLocalNetworks(cmd.Context(), &minswv1.ListLocalNetworksRequest{}); err == nil {
				rows = append(rows, localNetworkRows(filterLocal(fs, local.GetNetworks()), noTrunc)...)
				sortNetworkRows(rows)
			}
			return networkTable.Write(c.Out, tmpl, quiet, rows)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display network IDs")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "Do not truncate the output")
	cmd.Flags().StringVar(&tmpl, "format", "", "Pretty-print networks using a Go template")
	filter.Add(cmd)
	return cmd
}

// Docker's network inspect shape.
type networkInspect struct {
	Name       string
	ID         string `json:"Id"`
	Created    string
	Scope      string
	Driver     string
	EnableIPv6 bool
	IPAM       ipam
	Internal   bool
	Attachable bool
	Ingress    bool
	Containers map[string]endpointInfo
	Options    map[string]string
	Labels     map[string]string
	Peers      []peer `json:",omitempty"`
}

type ipam struct {
	Driver  string
	Options map[string]string
	Config  []ipamConfig
}

type ipamConfig struct {
	Subnet  string
	Gateway string `json:",omitempty"`
}

type endpointInfo struct {
	Name        string
	EndpointID  string
	MacAddress  string
	IPv4Address string
	IPv6Address string
}

type peer struct {
	Name string
	IP   string
}

// macFromIP derives an endpoint's MAC from its IPv4 address as Docker does
// (02:42 followed by the four address bytes).
func macFromIP(cidr string) string {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() {
		return ""
	}
	b := p.Addr().As4()
	return fmt.Sprintf("02:42:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
}

// localEndpoints fills Containers and Peers from what the managers know:
// this node's running tasks on the network and its lb endpoint, and the
// nodes that take part in the network.
func localEndpoints(ctx context.Context, cl *client.Client, n *minswv1.Network, out *networkInspect) {
	self := cli.LocalNodeID(ctx, cl)
	nodes, err := cl.Control.ListNodes(ctx, &minswv1.ListNodesRequest{})
	if err != nil {
		return
	}
	var tasks []*minswv1.Task
	if self != "" {
		if resp, err := cl.Control.ListTasks(ctx, &minswv1.ListTasksRequest{NodeIds: []string{self}}); err == nil {
			tasks = resp.GetTasks()
		}
	}
	fillEndpoints(out, n, self, nodes.GetNodes(), tasks)
}

// fillEndpoints adds to out what docker's inspect shows of a network on one
// node: the node's lb endpoint and running tasks (Containers) and the
// nodes taking part (Peers).
func fillEndpoints(out *networkInspect, n *minswv1.Network, self string, nodes []*minswv1.Node, tasks []*minswv1.Task) {
	for _, node := range nodes {
		for _, a := range node.GetLbAttachments() {
			if a.GetNetworkId() != n.GetId() || len(a.GetAddresses()) == 0 {
				continue
			}
			out.Peers = append(out.Peers, peer{Name: node.GetDescription().GetHostname(), IP: node.GetStatus().GetAddr()})
			if node.GetId() == self {
				mac := a.GetMacAddress()
				if mac == "" {
					mac = macFromIP(a.GetAddresses()[0])
				}
				out.Containers["lb-"+n.GetSpec().GetName()] = endpointInfo{
					Name: n.GetSpec().GetName() + "-endpoint", EndpointID: a.GetEndpointId(), MacAddress: mac, IPv4Address: a.GetAddresses()[0],
				}
			}
		}
	}
	for _, t := range tasks {
		cid := t.GetStatus().GetContainer().GetContainerId()
		if cid == "" || t.GetStatus().GetState() != minswv1.TaskState_TASK_STATE_RUNNING || t.GetNodeId() != self {
			continue
		}
		for _, a := range t.GetNetworks() {
			if a.GetNetworkId() != n.GetId() || len(a.GetAddresses()) == 0 {
				continue
			}
			mac := a.GetMacAddress()
			if mac == "" {
				mac = macFromIP(a.GetAddresses()[0])
			}
			out.Containers[cid] = endpointInfo{Name: task.ContainerName(t), EndpointID: a.GetEndpointId(), MacAddress: mac, IPv4Address: a.GetAddresses()[0]}
		}
	}
}

// inspectLocalNetwork is `network inspect` on a worker: the node's own view.
func inspectLocalNetwork(ctx context.Context, cl *client.Client, ref string) (networkInspect, error) {
	resp, err := cl.Networks.InspectLocalNetwork(ctx, &minswv1.InspectLocalNetworkRequest{Ref: ref})
	if err != nil {
		return networkInspect{}, err
	}
	out := networkFields(resp.GetNetwork())
	fillEndpoints(&out, resp.GetNetwork(), resp.GetNode().GetId(), []*minswv1.Node{resp.GetNode()}, resp.GetTasks())
	out.Peers = nil
	for _, p := range resp.GetPeers() {
		out.Peers = append(out.Peers, peer{Name: p.GetName(), IP: p.GetAddr()})
	}
	return out, nil
}

func inspectNetwork(ctx context.Context, cl *client.Client, n *minswv1.Network) networkInspect {
	out := networkFields(n)
	localEndpoints(ctx, cl, n, &out)
	return out
}

// networkFields is what inspect shows of the network object itself.
func networkFields(n *minswv1.Network) networkInspect {
	out := networkInspect{
		Name:       n.GetSpec().GetName(),
		ID:         n.GetId(),
		Scope:      "swarm",
		Driver:     n.GetSpec().GetDriver(),
		IPAM:       ipam{Driver: "default", Config: []ipamConfig{{Subnet: n.GetSubnet(), Gateway: n.GetGateway()}}},
		Internal:   n.GetSpec().GetInternal(),
		Attachable: n.GetSpec().GetAttachable(),
		Ingress:    n.GetSpec().GetIngress(),
		Containers: map[string]endpointInfo{},
		Options:    map[string]string{},
		Labels:     map[string]string{},
	}
	if t := n.GetMeta().GetCreatedAt(); t != nil {
		out.Created = t.AsTime().UTC().Format(time.RFC3339Nano)
	}
	for k, v := range n.GetSpec().GetDriverOpts() {
		out.Options[k] = v
	}
	if n.GetVni() != 0 {
		out.Options["com.docker.network.driver.overlay.vxlanid_list"] = fmt.Sprint(n.GetVni())
	}
	for k, v := range n.GetSpec().GetLabels() {
		out.Labels[k] = v
	}
	return out
}

func newInspectCommand(c *cli.CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NETWORK [NETWORK...]",
		Short: "Display detailed information on one or more networks",
		Args:  cli.MinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			objs, errs := cli.EachRef(args, func(ref string) (any, error) {
				resp, err := cl.Control.GetNetwork(cmd.Context(), &minswv1.GetNetworkRequest{Ref: ref})
				if err != nil && status.Code(err) == codes.FailedPrecondition && strings.Contains(err.Error(), "not a swarm manager") {
					// A worker: show its own view, as docker does.
					n, err := inspectLocalNetwork(cmd.Context(), cl, ref)
					if isNotFound(err) {
						if local, ok := inspectLocal(cmd.Context(), cl, ref); ok {
							return local, nil
						}
					}
					return n, err
				}
				if isNotFound(err) { // one of the node's own networks (local.go)?
					if n, ok := inspectLocal(cmd.Context(), cl, ref); ok {
						return n, nil
					}
				}
				if err != nil {
					return nil, err
				}
				return inspectNetwork(cmd.Context(), cl, resp.GetNetwork()), nil
			})
			if objs == nil {
				objs = []any{}
			}
			if err := inspect.WriteJSON(c.Out, objs); err != nil {
				return err
			}
			return errs
		},
	}
	return cmd
}

func newRemoveCommand(c *cli.CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more networks",
		Args:    cli.MinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			if args, err = confirmIngressRemoval(cmd.Context(), c, cl, args, force); err != nil || len(args) == 0 {
				return err
			}
			return c.RemoveEach(args, func(ref string) error {
				_, err := cl.Control.RemoveNetwork(cmd.Context(), &minswv1.RemoveNetworkRequest{Ref: ref})
				return err
			})
		},
	}
	addIngressRemovalFlag(cmd, &force)
	return cmd
}
