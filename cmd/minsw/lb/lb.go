// Package lb holds `minsw lb inspect`: the load balancer of each overlay
// network on this node, as ipvsadm lays it out.
package lb

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/cmd/minsw/internal/format"
	"github.com/minsw/minsw/cmd/minsw/internal/inspect"
	"github.com/minsw/minsw/netdriver"
	"github.com/minsw/minsw/netdriver/ingress"
	"github.com/minsw/minsw/netdriver/lb"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// NewCommand is `minsw lb`.
func NewCommand(c *cli.CLI) *cobra.Command {
	cmd := &cobra.Command{Use: "lb", Short: "Inspect this node's load balancers", Args: cli.NoArgs}
	cmd.AddCommand(newInspectCommand(c))
	return cmd
}

func newInspectCommand(c *cli.CLI) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] [NETWORK]",
		Short: "Show the VIPs, marks and backends of this node's lb namespaces, as ipvsadm does",
		Long: "Show, per overlay network with a task on this node, the lb namespace's virtual IPs,\n" +
			"firewall marks and backends as the kernel holds them, in ipvsadm's layout, and the\n" +
			"load balancer backend in use (ipvs or nftables). The ingress network (every node of\n" +
			"the swarm holds it) also shows the routing mesh: each published port, the mark\n" +
			"ingress_sbox gives it and its backends, and host-mode ports with their local task.",
		Args: cli.MaxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			req := &minswv1.LBInspectRequest{}
			if len(args) == 1 {
				req.Network = args[0]
			}
			resp, err := cl.Networks.LBInspect(cmd.Context(), req)
			if err != nil {
				return err
			}
			if asJSON {
				return inspect.WriteJSON(c.Out, struct {
					Backend, BackendReason string
					Networks               []netdriver.NetworkInfo
					GossipMembers          []string
				}{resp.GetBackend(), resp.GetBackendReason(), lbInfos(resp.GetNetworks()), resp.GetGossipMembers()})
			}
			fmt.Fprintf(c.Out, "Backend: %s (%s)\n", resp.GetBackend(), resp.GetBackendReason())
			if len(resp.GetNetworks()) == 0 {
				fmt.Fprintln(c.Out, "No lb namespace on this node: no task attached to an overlay network runs here.")
				return nil
			}
			fmt.Fprintln(c.Out)
			return format.LBTable(c.Out, lbInfos(resp.GetNetworks()))
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "Print the raw view as JSON")
	return cmd
}

// lbInfos turns the API's view back into the netdriver's, whose table
// writer is the one ipvsadm layout of the project.
func lbInfos(nets []*minswv1.LBNetwork) []netdriver.NetworkInfo {
	out := make([]netdriver.NetworkInfo, 0, len(nets))
	for _, n := range nets {
		in := netdriver.NetworkInfo{ID: n.GetId(), Name: n.GetName(), VNI: n.GetVni(), Sandbox: n.GetSandbox(),
			LBNetns: n.GetLbNetns(), Backend: n.GetBackend(), Endpoints: n.GetEndpoints(), ServicesErrors: n.GetError()}
		in.Subnet, _ = netip.ParsePrefix(n.GetSubnet())
		in.LBAddr, _ = netip.ParsePrefix(n.GetLbAddr())
		for _, v := range n.GetVips() {
			if a, err := netip.ParseAddr(v); err == nil {
				in.VIPs = append(in.VIPs, a)
			}
		}
		for _, s := range n.GetServices() {
			svc := lb.Service{Mark: s.GetFwmark()}
			svc.VIP, _ = netip.ParseAddr(s.GetVip())
			for _, b := range s.GetBackends() {
				if a, err := netip.ParseAddr(b); err == nil {
					svc.Backends = append(svc.Backends, a)
				}
			}
			for _, b := range s.GetDraining() {
				if a, err := netip.ParseAddr(b); err == nil {
					svc.Draining = append(svc.Draining, a)
				}
			}
			in.Services = append(in.Services, svc)
			in.Conns = append(in.Conns, lbConns(s)...)
		}
		for _, p := range n.GetPeers() {
			peer := netdriver.Peer{}
			peer.Addr, _ = netip.ParseAddr(p.GetAddr())
			peer.VTEP, _ = netip.ParseAddr(p.GetVtep())
			peer.MAC, _ = net.ParseMAC(p.GetMac())
			in.Peers = append(in.Peers, peer)
		}
		in.Ingress = ingressInfo(n.GetIngress())
		out = append(out, in)
	}
	return out
}

// ingressInfo turns the API's routing mesh back into the netdriver's.
func ingressInfo(in *minswv1.LBIngress) *netdriver.IngressInfo {
	if in == nil {
		return nil
	}
	out := &netdriver.IngressInfo{}
	out.SboxAddr, _ = netip.ParsePrefix(in.GetSboxAddr())
	for _, p := range in.GetPublished() {
		proto, err := ingress.ParseProto(p.GetProtocol())
		if err != nil || p.GetPort() == 0 || p.GetPort() > 65535 {
			continue
		}
		port := ingress.Port{Proto: proto, Port: uint16(p.GetPort())}
		pub := ingress.Publish{Port: port}
		if p.GetFwmark() != 0 {
			out.Marks = append(out.Marks, ingress.PortMark{Port: port, Mark: p.GetFwmark()})
			pub.To = netip.AddrPortFrom(out.SboxAddr.Addr(), port.Port)
		} else {
			pub.To, _ = netip.ParseAddrPort(p.GetTo())
		}
		out.Published = append(out.Published, pub)
	}
	return out
}
