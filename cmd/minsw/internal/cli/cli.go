// Package cli is what every minsw command shares: the streams, the
// connection to the daemon, docker's argument checks and errors, and the
// option parsers used by more than one noun (--filter, retried creates).
// It knows no noun; the command packages (node, network, service, ...)
// build on it.
package cli

import (
	"io"
	"os"
	"strconv"
	"time"

	"golang.org/x/term"

	"github.com/minsw/minsw/client"
	"github.com/minsw/minsw/cmd/minsw/internal/progress"
)

// CLI is what every command shares: the streams, the daemon address and
// the connection, made on first use.
type CLI struct {
	In       io.Reader
	Out, Err io.Writer
	// Host is --host / $MINSW_HOST ("" for the default socket).
	Host string
	Now  func() time.Time
	// Progress tunes the convergence display of service create/update/scale.
	Progress progress.Options
	// UnknownRetries are the waits before retrying a create whose outcome
	// is unknown (RetryUnknown).
	UnknownRetries []time.Duration

	c *client.Client
}

// New is a CLI over the given streams with the real clock and the
// progress knobs of the environment.
func New(in io.Reader, out, err io.Writer) *CLI {
	return &CLI{In: in, Out: out, Err: err, Now: time.Now, Progress: progressOptions(), UnknownRetries: DefaultUnknownRetries()}
}

// Client connects to the daemon chosen by --host / $MINSW_HOST.
func (c *CLI) Client() (*client.Client, error) {
	if c.c == nil {
		cl, err := client.New(client.ResolveHost(c.Host))
		if err != nil {
			return nil, err
		}
		c.c = cl
	}
	return c.c, nil
}

// Close closes the connection, if one was made.
func (c *CLI) Close() {
	if c.c != nil {
		c.c.Close()
	}
}

// IsTerminal says whether f (one of the streams) is a terminal, and its fd.
func IsTerminal(f any) (int, bool) {
	if fd, ok := f.(interface{ Fd() uintptr }); ok && term.IsTerminal(int(fd.Fd())) {
		return int(fd.Fd()), true
	}
	return 0, false
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
