// Command minsw is both the node daemon (`minsw daemon`) and the docker-like
// CLI that talks to it over its unix socket. The CLI commands here are thin:
// parse flags, call the gRPC API through package client, print.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/minsw/minsw/client"
	"github.com/minsw/minsw/cmd/minsw/internal/progress"
	"github.com/minsw/minsw/worker/executor/containerd"
)

func main() {
	// containerd starts the daemon's binary as the log writer of containers
	// with a terminal or a rotating log.
	if containerd.IsLogWriter(os.Args[1:]) {
		os.Exit(containerd.RunLogWriter(os.Args[1:]))
	}
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// cli is what every command shares: the streams, the daemon address and
// the connection, made on first use.
type cli struct {
	in       io.Reader
	out, err io.Writer
	host     string
	now      func() time.Time
	// progress tunes the convergence display of service create/update/scale.
	progress progress.Options

	c *client.Client
}

// Client connects to the daemon chosen by --host / $MINSW_HOST.
func (c *cli) Client() (*client.Client, error) {
	if c.c == nil {
		cl, err := client.New(client.ResolveHost(c.host))
		if err != nil {
			return nil, err
		}
		c.c = cl
	}
	return c.c, nil
}

// isTerminal says whether f (one of the streams) is a terminal, and its fd.
func isTerminal(f any) (int, bool) {
	if fd, ok := f.(interface{ Fd() uintptr }); ok && term.IsTerminal(int(fd.Fd())) {
		return int(fd.Fd()), true
	}
	return 0, false
}

// exitError ends the CLI with a status and no message: `container exec`
// passes the process's exit code through.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// run executes the CLI and returns its exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{in: stdin, out: stdout, err: stderr, now: time.Now, progress: progressOptions()}
	defer func() {
		if c.c != nil {
			c.c.Close()
		}
	}()
	root := newRootCommand(c)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintln(stderr, client.Message(err))
	return 1
}

// progressOptions reads the hidden knobs tests use to avoid waiting:
// MINSW_VERIFY_SECONDS (docker waits 5) and MINSW_STALL_SECONDS.
func progressOptions() progress.Options {
	o := progress.DefaultOptions()
	if v, err := strconv.ParseFloat(os.Getenv("MINSW_VERIFY_SECONDS"), 64); err == nil && v >= 0 {
		o.Verify = time.Duration(v * float64(time.Second))
	}
	if v, err := strconv.ParseFloat(os.Getenv("MINSW_STALL_SECONDS"), 64); err == nil && v >= 0 {
		o.Stall = time.Duration(v * float64(time.Second))
	}
	return o
}

func newRootCommand(c *cli) *cobra.Command {
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
	root.PersistentFlags().StringVarP(&c.host, "host", "H", "", "Daemon socket to connect to (default $"+client.HostEnv+" or "+client.DefaultHost+")")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w\nSee '%s --help'.", err, cmd.CommandPath())
	})
	root.AddCommand(
		newSwarmCommand(c),
		newNodeCommand(c),
		newNetworkCommand(c),
		newServiceCommand(c),
		newContainerCommand(c),
		newLBCommand(c),
		newSecretCommand(c),
		newConfigCommand(c),
		newVolumeCommand(c),
		newStackCommand(c),
		// docker's top-level shortcuts
		newContainerListCommand(c, "ps"),
		newContainerExecCommand(c, "exec"),
		newContainerLogsCommand(c, "logs"),
	)
	root.AddCommand(newDaemonCommand())
	addVersion(c, root)
	addInspectFormats(c, root)
	refuseUnknownSubcommands(root)
	return root
}

// Argument checks with docker's wording.

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return fmt.Errorf("%q accepts no arguments.\nSee '%s --help'.", cmd.CommandPath(), cmd.CommandPath())
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		return fmt.Errorf("%q requires exactly %d %s.\nSee '%s --help'.", cmd.CommandPath(), n, plural(n, "argument"), cmd.CommandPath())
	}
}

func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= n {
			return nil
		}
		return fmt.Errorf("%q requires at least %d %s.\nSee '%s --help'.", cmd.CommandPath(), n, plural(n, "argument"), cmd.CommandPath())
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// multiError reports the failures of a command applied to several objects
// (docker goes on after a failure and exits 1 at the end).
func multiError(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]error, len(errs))
	for i, e := range errs {
		msgs[i] = errors.New(client.Message(e))
	}
	return errors.Join(msgs...)
}

func asErr[T error](err error, target *T) bool { return errors.As(err, target) }
