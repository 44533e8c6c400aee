package service

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/minsw/minsw/client"
	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/cmd/minsw/internal/progress"
)

// WaitFlags are the flags of the commands that may follow convergence.
type WaitFlags struct {
	detach, quiet bool
	// rollback is set (not a flag) when the user asked for the rollback,
	// so its completion is a success, not a failed update.
	rollback bool
}

func (w *WaitFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVarP(&w.detach, "detach", "d", false, "Exit immediately instead of waiting for the service to converge")
	cmd.Flags().BoolVarP(&w.quiet, "quiet", "q", false, "Suppress progress output")
}

// Wait shows the service converging unless detached. Ctrl-C
// stops following; the service carries on.
func Wait(ctx context.Context, c *cli.CLI, cl *client.Client, id, name string, w WaitFlags) error {
	if w.detach {
		return nil
	}
	var d progress.Display
	switch _, tty := cli.IsTerminal(c.Out); {
	case w.quiet:
		d = discard{}
	case tty:
		d = progress.NewTerminal(c.Out)
	default:
		d = &progress.Plain{Out: c.Out}
	}
	opts := c.Progress
	opts.Rollback = w.rollback
	err := progress.Wait(ctx, cl.Control, id, d, opts)
	// An RPC cut by the caller's deadline can report DeadlineExceeded a
	// moment before ctx itself says so.
	if err != nil && (ctx.Err() != nil || status.Code(err) == codes.Canceled || status.Code(err) == codes.DeadlineExceeded) {
		fmt.Fprintf(c.Err, "\nOperation continuing in background.\nUse `minsw service ps --no-trunc %s` to check progress.\n", name)
		return nil
	}
	return err
}

type discard struct{}

func (discard) Update(progress.View)       {}
func (discard) Close(progress.View, error) {}
