package clitest

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/cmd/minsw/internal/commands"
	"github.com/minsw/minsw/manager/allocator"
	"github.com/minsw/minsw/manager/controlapi"
	"github.com/minsw/minsw/manager/store"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// Exec runs the whole CLI, as main does, over the given streams and
// returns its exit status.
func Exec(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return commands.Execute(cli.New(stdin, stdout, stderr), args)
}

// ServeControl serves the real Control API over an in-memory store on a
// unix socket, for the commands whose checks live in the manager.
func ServeControl(t *testing.T) (string, *store.Store) {
	t.Helper()
	st := store.New(nil, nil)
	// The allocator loop runs as on the leader: a create waits for it to
	// give the service its addresses (up to 10 s without it).
	a := allocator.New(st, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	srv := grpc.NewServer()
	minswv1.RegisterControlServer(srv, controlapi.New(controlapi.Config{Store: st, Allocator: func() *allocator.Allocator { return a }}))
	path := filepath.Join(t.TempDir(), "minsw.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return path, st
}

// OpenPTY opens a pseudo-terminal pair, so the CLI sees a real terminal.
func OpenPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// Canonical says whether the terminal f is in canonical (cooked) mode.
func Canonical(t *testing.T, f *os.File) bool {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return tio.Lflag&unix.ICANON != 0
}
