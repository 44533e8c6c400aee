package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

type execOptions struct {
	interactive, tty bool
	env              []string
}

// NewExecCommand is `container exec`, named use (docker's `exec` too).
func NewExecCommand(c *cli.CLI, use string) *cobra.Command {
	var o execOptions
	cmd := &cobra.Command{
		Use:   use + " [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short: "Execute a command in a running container",
		Args:  cli.MinArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExec(cmd.Context(), c, args[0], args[1:], o)
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false) // flags after CONTAINER belong to the command
	f.BoolVarP(&o.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	f.BoolVarP(&o.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	f.StringArrayVarP(&o.env, "env", "e", nil, "Set environment variables")
	return cmd
}

// runExec streams a process in a container: stdin up, output down, window
// resizes when attached to a terminal; the process's exit status becomes
// the CLI's.
func runExec(ctx context.Context, c *cli.CLI, container string, argv []string, o execOptions) error {
	inFd, inTTY := cli.IsTerminal(c.In)
	outFd, outTTY := cli.IsTerminal(c.Out)
	if o.interactive && o.tty && !inTTY {
		return errors.New("the input device is not a TTY")
	}
	cl, err := c.Client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := cl.Containers.Exec(ctx)
	if err != nil {
		return err
	}
	s := &execSession{stream: stream}
	start := &minswv1.ExecStart{Container: container, Cmd: argv, Tty: o.tty, Stdin: o.interactive, Env: o.env}
	if o.tty && outTTY {
		if w, h, err := term.GetSize(outFd); err == nil {
			start.Cols, start.Rows = uint32(w), uint32(h)
		}
	}
	if err := s.send(&minswv1.ExecRequest{Start: start}); err != nil {
		return execStreamError(stream, err)
	}
	if o.tty && o.interactive && inTTY {
		old, err := term.MakeRaw(inFd)
		if err != nil {
			return fmt.Errorf("set terminal raw mode: %w", err)
		}
		defer term.Restore(inFd, old)
	}
	if o.tty && outTTY {
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		go s.forwardResizes(ctx, winch, outFd)
	}
	if o.interactive {
		go s.forwardStdin(c.In)
	}
	return s.receive(ctx, c.Out, c.Err)
}

// execSession is one exec stream. gRPC allows one sender at a time; stdin
// and resizes share the stream.
type execSession struct {
	stream minswv1.Containers_ExecClient
	mu     sync.Mutex
}

func (s *execSession) send(req *minswv1.ExecRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stream.Send(req)
}

// forwardResizes sends the terminal's size at every SIGWINCH until ctx ends.
func (s *execSession) forwardResizes(ctx context.Context, winch <-chan os.Signal, fd int) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-winch:
			if w, h, err := term.GetSize(fd); err == nil {
				_ = s.send(&minswv1.ExecRequest{Resize: &minswv1.ExecResize{Rows: uint32(h), Cols: uint32(w)}})
			}
		}
	}
}

// forwardStdin copies in to the process, then closes its stdin.
func (s *execSession) forwardStdin(in io.Reader) {
	buf := make([]byte, 32*1024)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			if s.send(&minswv1.ExecRequest{Stdin: append([]byte(nil), buf[:n]...)}) != nil {
				return
			}
		}
		if err != nil {
			_ = s.send(&minswv1.ExecRequest{CloseStdin: true})
			return
		}
	}
}

// receive copies the process's output until it exits; its exit status
// becomes an ExitError, Ctrl-C docker's 130.
func (s *execSession) receive(ctx context.Context, stdout, stderr io.Writer) error {
	for {
		resp, err := s.stream.Recv()
		if err != nil {
			if ctx.Err() != nil {
				return cli.ExitError{Code: 130}
			}
			if errors.Is(err, io.EOF) {
				return errors.New("exec: the daemon closed the stream before the process exited")
			}
			return err
		}
		if len(resp.GetStdout()) > 0 {
			if _, err := stdout.Write(resp.GetStdout()); err != nil {
				return err
			}
		}
		if len(resp.GetStderr()) > 0 {
			if _, err := stderr.Write(resp.GetStderr()); err != nil {
				return err
			}
		}
		if resp.GetExited() {
			if code := resp.GetExitCode(); code != 0 {
				return cli.ExitError{Code: int(code)}
			}
			return nil
		}
	}
}

// execStreamError prefers the daemon's reason (from Recv) to the bare
// io.EOF a failed Send reports.
func execStreamError(stream minswv1.Containers_ExecClient, err error) error {
	if errors.Is(err, io.EOF) {
		if _, rerr := stream.Recv(); rerr != nil {
			return rerr
		}
	}
	return err
}
