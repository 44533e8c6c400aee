package swarm

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// printUnlockKey is Docker's text around a new or shown unlock key.
func printUnlockKey(w io.Writer, key string) {
	fmt.Fprintf(w, "To unlock a swarm manager after it restarts, run the `minsw swarm unlock`\ncommand and provide the following key:\n\n    %s\n\n"+
		"Please remember to store this key in a password manager, since without it you\nwill not be able to restart the manager.\n", key)
}

func newUnlockCommand(c *cli.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "unlock",
		Short: "Unlock swarm",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			// Asked first, as Docker does: a node that is not locked says
			// so before the user types a secret.
			info, err := cl.Swarm.Info(cmd.Context(), &minswv1.InfoRequest{})
			if err != nil {
				return err
			}
			switch info.GetLocalNodeState() {
			case "inactive":
				return errors.New("This node is not part of a swarm")
			case "locked":
			default:
				return errors.New("Error: swarm is not locked")
			}
			key, err := readUnlockKey(c)
			if err != nil {
				return err
			}
			_, err = cl.Swarm.Unlock(cmd.Context(), &minswv1.UnlockRequest{UnlockKey: key})
			return err
		},
	}
}

// readUnlockKey reads the key from stdin: without echo from a terminal,
// else its first line (scripts: echo $KEY | minsw swarm unlock).
func readUnlockKey(c *cli.CLI) (string, error) {
	if fd, ok := cli.IsTerminal(c.In); ok {
		fmt.Fprint(c.Out, "Please enter unlock key: ")
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(c.Out)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(b)), nil
	}
	line, err := bufio.NewReader(c.In).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimSpace(line), nil
}

func newUnlockKeyCommand(c *cli.CLI) *cobra.Command {
	var quiet, rotate bool
	cmd := &cobra.Command{
		Use:   "unlock-key [OPTIONS]",
		Short: "Manage the unlock key",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
				if !cur.GetCluster().GetSpec().GetAutolock() {
					return errors.New("cannot rotate because autolock is not turned on")
				}
				if _, err := cl.Control.UpdateCluster(ctx, &minswv1.UpdateClusterRequest{
					Version: cur.GetCluster().GetMeta().GetVersion(), Spec: cur.GetCluster().GetSpec(), RotateUnlockKey: true,
				}); err != nil {
					return err
				}
				if !quiet {
					fmt.Fprint(c.Out, "Successfully rotated manager unlock key.\n\n")
				}
			}
			resp, err := cl.Control.GetUnlockKey(ctx, &minswv1.GetUnlockKeyRequest{})
			if err != nil {
				return err
			}
			if resp.GetUnlockKey() == "" {
				return errors.New("no unlock key is set")
			}
			if quiet {
				fmt.Fprintln(c.Out, resp.GetUnlockKey())
				return nil
			}
			printUnlockKey(c.Out, resp.GetUnlockKey())
			return nil
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display token")
	cmd.Flags().BoolVar(&rotate, "rotate", false, "Rotate unlock key")
	return cmd
}
