// Package swarm holds `minsw swarm`: init, join, join-token, leave, update,
// ca, unlock and unlock-key.
package swarm

import (
	"encoding/pem"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// NewCommand is `minsw swarm`.
func NewCommand(c *cli.CLI) *cobra.Command {
	cmd := &cobra.Command{Use: "swarm", Short: "Manage Swarm", Args: cli.NoArgs}
	cmd.AddCommand(newInitCommand(c), newJoinCommand(c), newJoinTokenCommand(c), newLeaveCommand(c),
		newUpdateCommand(c), newCACommand(c), newUnlockCommand(c), newUnlockKeyCommand(c))
	return cmd
}

func newInitCommand(c *cli.CLI) *cobra.Command {
	var req minswv1.InitRequest
	var availability string
	cmd := &cobra.Command{
		Use:   "init [OPTIONS]",
		Short: "Initialize a swarm",
		Long: "Initialize a swarm: this node becomes its first manager.\n\n" +
			"Every minsw daemon also serves the Docker Engine API, so the docker CLI and SDKs\n" +
			"drive the swarm too:\n\n" +
			"    export DOCKER_HOST=unix:///var/run/minsw/docker.sock   # <exec-root>/docker.sock\n" +
			"    docker service ls",
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := cli.Availability(availability)
			if err != nil {
				return err
			}
			req.Availability = a
			cl, err := c.Client()
			if err != nil {
				return err
			}
			resp, err := cl.Swarm.Init(cmd.Context(), &req)
			if err != nil {
				return err
			}
			join := resp.GetWorkerJoinCommand()
			if !strings.HasPrefix(join, "minsw ") {
				// The daemon gave only the token (or nothing): build the line.
				join, err = joinCommand(cmd, c, "worker", join)
				if err != nil {
					return err
				}
			}
			fmt.Fprintf(c.Out, "Swarm initialized: current node (%s) is now a manager.\n\n", resp.GetNodeId())
			fmt.Fprintf(c.Out, "To add a worker to this swarm, run the following command:\n\n    %s\n\n", join)
			fmt.Fprintf(c.Out, "To add a manager to this swarm, run 'minsw swarm join-token manager' and follow the instructions.\n\n")
			if key := resp.GetUnlockKey(); key != "" {
				printUnlockKey(c.Out, key)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.AdvertiseAddr, "advertise-addr", "", "Advertised address (format: <ip|interface>[:port])")
	f.StringVar(&req.ListenAddr, "listen-addr", "", "Listen address (format: <ip|interface>[:port]) (default: the daemon's --listen-addr, 0.0.0.0:2377)")
	f.BoolVar(&req.Autolock, "autolock", false, "Enable manager autolocking (requiring an unlock key to start a stopped manager)")
	f.BoolVar(&req.ForceNewCluster, "force-new-cluster", false, "Force create a new cluster from current state")
	f.StringVar(&availability, "availability", "active", `Availability of the node ("active", "pause", "drain")`)
	return cmd
}

func newJoinCommand(c *cli.CLI) *cobra.Command {
	var req minswv1.JoinRequest
	var availability string
	cmd := &cobra.Command{
		Use:   "join [OPTIONS] HOST:PORT",
		Short: "Join a swarm as a node and/or manager",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := cli.Availability(availability)
			if err != nil {
				return err
			}
			req.Availability = a
			cl, err := c.Client()
			if err != nil {
				return err
			}
			req.RemoteAddrs = []string{args[0]}
			resp, err := cl.Swarm.Join(cmd.Context(), &req)
			if err != nil {
				return err
			}
			role := "worker"
			if resp.GetRole() == minswv1.NodeRole_NODE_ROLE_MANAGER {
				role = "manager"
			}
			fmt.Fprintf(c.Out, "This node joined a swarm as a %s.\n", role)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.JoinToken, "token", "", "Token for entry into the swarm")
	f.StringVar(&req.AdvertiseAddr, "advertise-addr", "", "Advertised address (format: <ip|interface>[:port])")
	f.StringVar(&req.ListenAddr, "listen-addr", "", "Listen address (format: <ip|interface>[:port]) (default: the daemon's --listen-addr, 0.0.0.0:2377)")
	f.StringVar(&availability, "availability", "active", `Availability of the node ("active", "pause", "drain")`)
	return cmd
}

func newJoinTokenCommand(c *cli.CLI) *cobra.Command {
	var quiet, rotate bool
	cmd := &cobra.Command{
		Use:   "join-token [OPTIONS] (worker|manager)",
		Short: "Manage join tokens",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			role := args[0]
			if role != "worker" && role != "manager" {
				return fmt.Errorf("unknown role %s", role)
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if rotate {
				cur, err := cl.Control.GetCluster(ctx, &minswv1.GetClusterRequest{})
				if err != nil {
					return err
				}
				_, err = cl.Control.UpdateCluster(ctx, &minswv1.UpdateClusterRequest{
					Version:            cur.GetCluster().GetMeta().GetVersion(),
					Spec:               cur.GetCluster().GetSpec(),
					RotateWorkerToken:  role == "worker",
					RotateManagerToken: role == "manager",
				})
				if err != nil {
					return err
				}
				if !quiet {
					fmt.Fprintf(c.Out, "Successfully rotated %s join token.\n\n", role)
				}
			}
			cluster, err := cl.Control.GetCluster(ctx, &minswv1.GetClusterRequest{})
			if err != nil {
				return err
			}
			token := cluster.GetCluster().GetJoinTokens().GetWorker()
			if role == "manager" {
				token = cluster.GetCluster().GetJoinTokens().GetManager()
			}
			if quiet {
				fmt.Fprintln(c.Out, token)
				return nil
			}
			join, err := joinCommand(cmd, c, role, token)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.Out, "To add a %s to this swarm, run the following command:\n\n    %s\n\n", role, join)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display token")
	cmd.Flags().BoolVar(&rotate, "rotate", false, "Rotate join token")
	return cmd
}

// joinCommand builds "minsw swarm join --token T ADDR" with this manager's
// address. An empty token is fetched from the cluster.
func joinCommand(cmd *cobra.Command, c *cli.CLI, role, token string) (string, error) {
	cl, err := c.Client()
	if err != nil {
		return "", err
	}
	ctx := cmd.Context()
	if token == "" {
		cluster, err := cl.Control.GetCluster(ctx, &minswv1.GetClusterRequest{})
		if err != nil {
			return "", err
		}
		token = cluster.GetCluster().GetJoinTokens().GetWorker()
		if role == "manager" {
			token = cluster.GetCluster().GetJoinTokens().GetManager()
		}
	}
	info, err := cl.Swarm.Info(ctx, &minswv1.InfoRequest{})
	if err != nil {
		return "", err
	}
	addr := ""
	if n, err := cl.Control.GetNode(ctx, &minswv1.GetNodeRequest{Ref: info.GetNodeId()}); err == nil {
		addr = n.GetNode().GetManagerStatus().GetAddr()
	}
	if addr == "" && len(info.GetManagers()) > 0 {
		addr = info.GetManagers()[0]
	}
	if addr == "" && info.GetNodeAddr() != "" {
		addr = net.JoinHostPort(info.GetNodeAddr(), "2377")
	}
	return fmt.Sprintf("minsw swarm join --token %s %s", token, addr), nil
}

func newLeaveCommand(c *cli.CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "leave [OPTIONS]",
		Short: "Leave the swarm",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			if _, err := cl.Swarm.Leave(cmd.Context(), &minswv1.LeaveRequest{Force: force}); err != nil {
				return err
			}
			fmt.Fprintln(c.Out, "Node left the swarm.")
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force this node to leave the swarm, ignoring warnings")
	return cmd
}

func newUpdateCommand(c *cli.CLI) *cobra.Command {
	var (
		certExpiry time.Duration
		autolock   bool
	)
	cmd := &cobra.Command{
		Use:   "update [OPTIONS]",
		Short: "Update the swarm",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			cur, err := cl.Control.GetCluster(ctx, &minswv1.GetClusterRequest{})
			if err != nil {
				return err
			}
			spec := cur.GetCluster().GetSpec()
			if cmd.Flags().Changed("cert-expiry") {
				spec.CertExpiry = durationpb.New(certExpiry)
			}
			wasLocked := spec.GetAutolock()
			if cmd.Flags().Changed("autolock") {
				spec.Autolock = autolock
			}
			if _, err := cl.Control.UpdateCluster(ctx, &minswv1.UpdateClusterRequest{Version: cur.GetCluster().GetMeta().GetVersion(), Spec: spec}); err != nil {
				return err
			}
			fmt.Fprintln(c.Out, "Swarm updated.")
			if spec.GetAutolock() && !wasLocked {
				key, err := cl.Control.GetUnlockKey(ctx, &minswv1.GetUnlockKeyRequest{})
				if err != nil {
					return err
				}
				printUnlockKey(c.Out, key.GetUnlockKey())
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&certExpiry, "cert-expiry", 90*24*time.Hour, "Validity period for node certificates (ns|us|ms|s|m|h)")
	cmd.Flags().BoolVar(&autolock, "autolock", false, "Change manager autolocking setting (true|false)")
	return cmd
}

func newCACommand(c *cli.CLI) *cobra.Command {
	var rotate, detach, quiet bool
	cmd := &cobra.Command{
		Use:   "ca [OPTIONS]",
		Short: "Display and rotate the root CA",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if rotate {
				if _, err := cl.Control.RotateRootCA(ctx, &minswv1.RotateRootCARequest{}); err != nil {
					return err
				}
				if !quiet {
					fmt.Fprintln(c.Out, "Root CA rotation started: every node renews its certificate onto the new root.")
				}
				// Wait until every node holds a certificate from the new
				// root and the new root has replaced the old one.
				for !detach {
					cur, err := cl.Control.GetCluster(ctx, &minswv1.GetClusterRequest{})
					if err != nil {
						return err
					}
					if cur.GetCluster().GetRootRotation() == nil {
						break
					}
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(500 * time.Millisecond):
					}
				}
			}
			cur, err := cl.Control.GetCluster(ctx, &minswv1.GetClusterRequest{})
			if err != nil {
				return err
			}
			if rotate && detach && !quiet {
				fmt.Fprintln(c.Out, "Rotation continues in the background; run `minsw swarm ca` to see the root.")
			}
			fmt.Fprint(c.Out, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cur.GetCluster().GetRootCaCert()})))
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&rotate, "rotate", false, "Rotate the swarm CA: a new root, cross-signed by the current one")
	f.BoolVarP(&detach, "detach", "d", false, "Exit immediately instead of waiting for the root rotation to finish")
	f.BoolVarP(&quiet, "quiet", "q", false, "Suppress progress output")
	return cmd
}
