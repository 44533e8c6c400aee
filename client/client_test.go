package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

func TestParseHost(t *testing.T) {
	wd, _ := os.Getwd()
	for _, tc := range []struct {
		name, host, path, canonical, err string
	}{
		{name: "default socket", host: DefaultHost, path: "/var/run/minsw/minsw.sock", canonical: DefaultHost},
		{name: "plain absolute path", host: "/tmp/m.sock", path: "/tmp/m.sock", canonical: "unix:///tmp/m.sock"},
		{name: "relative path made absolute", host: "m.sock", path: filepath.Join(wd, "m.sock"), canonical: "unix://" + filepath.Join(wd, "m.sock")},
		{name: "unix scheme with relative path", host: "unix://m.sock", path: filepath.Join(wd, "m.sock"), canonical: "unix://" + filepath.Join(wd, "m.sock")},
		{name: "tcp refused", host: "tcp://1.2.3.4:2375", err: "only unix:// sockets are supported"},
		{name: "empty unix path", host: "unix://", err: "empty socket path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, canonical, err := ParseHost(tc.host)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || path != tc.path || canonical != tc.canonical {
				t.Fatalf("ParseHost(%q) = %q, %q, %v; want %q, %q", tc.host, path, canonical, err, tc.path, tc.canonical)
			}
		})
	}
}

func TestResolveHost(t *testing.T) {
	t.Setenv(HostEnv, "")
	if got := ResolveHost(""); got != DefaultHost {
		t.Errorf("no flag, no env: %q", got)
	}
	t.Setenv(HostEnv, "/env.sock")
	if got := ResolveHost(""); got != "/env.sock" {
		t.Errorf("env: %q", got)
	}
	if got := ResolveHost("/flag.sock"); got != "/flag.sock" {
		t.Errorf("flag wins over env: %q", got)
	}
}

func TestMessage(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"not found", status.Error(codes.NotFound, "service web not found"), "Error response from daemon: service web not found"},
		{"invalid argument", status.Error(codes.InvalidArgument, `invalid name "-x"`), `Error response from daemon: invalid name "-x"`},
		{"no leader", status.Error(codes.Unavailable, "the swarm does not have a leader"), "Error response from daemon: the swarm does not have a leader"},
		{"wrapped status keeps the daemon's words", fmt.Errorf("scale web: %w", status.Error(codes.FailedPrecondition, "ambiguous")), "Error response from daemon: ambiguous"},
		{"connect", &ConnectError{Host: "unix:///x.sock"}, "Cannot connect to the minsw daemon at unix:///x.sock: is the daemon running?"},
		{"local error", errors.New(`invalid replicas value "x"`), `invalid replicas value "x"`},
		{"request over gRPC's limit", status.Error(codes.ResourceExhausted, "grpc: received message larger than max (5000123 vs. 4194304)"),
			"Error response from daemon: the request is larger than the 4 MiB a message may carry (one spec may be at most 1.5 MiB)"},
		{"outcome unknown", status.Error(codes.Unknown, "the request may or may not have been applied: check with service ls"),
			"Error response from daemon: the request may or may not have been applied: check with service ls"},
		{"outcome unknown past the deadline", status.Error(codes.DeadlineExceeded, "the request may or may not have been applied: check with service ls"),
			"Error response from daemon: the request may or may not have been applied: check with service ls"},
		{"a plain timeout", status.Error(codes.DeadlineExceeded, "context deadline exceeded"), "Error response from daemon: timed out: context deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Message(tc.err); got != tc.want {
				t.Errorf("Message() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNoDaemon(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()

	for name, path := range map[string]string{
		"socket file missing": filepath.Join(dir, "missing.sock"),
		"stale socket file":   stale,
	} {
		t.Run(name, func(t *testing.T) {
			c, err := New("unix://" + path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, err = c.Swarm.Info(context.Background(), &minswv1.InfoRequest{})
			want := "Cannot connect to the minsw daemon at unix://" + path + ": is the daemon running?"
			if got := Message(err); got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
			// Streams fail the same way.
			s, err := c.Containers.Logs(context.Background(), &minswv1.LogsRequest{Container: "x"})
			if err == nil {
				_, err = s.Recv()
			}
			if got := Message(err); got != want {
				t.Fatalf("stream: got %q, want %q", got, want)
			}
		})
	}
}

type unavailableSwarm struct {
	minswv1.UnimplementedSwarmServer
}

func (unavailableSwarm) Info(context.Context, *minswv1.InfoRequest) (*minswv1.InfoResponse, error) {
	return nil, status.Error(codes.Unavailable, "the swarm does not have a leader")
}

func TestDaemonUnavailableIsNotConnectError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	minswv1.RegisterSwarmServer(srv, unavailableSwarm{})
	go srv.Serve(l)
	defer srv.Stop()

	c, err := New(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Swarm.Info(context.Background(), &minswv1.InfoRequest{})
	if got, want := Message(err), "Error response from daemon: the swarm does not have a leader"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// dyingControl answers nothing: the daemon goes away mid-call, after the
// request arrived. The handler returns only once the server's stop has
// cancelled the call (a fixed sleep raced the stop on a loaded machine).
type dyingControl struct {
	minswv1.UnimplementedControlServer
	die func()
}

func (d dyingControl) CreateService(ctx context.Context, _ *minswv1.CreateServiceRequest) (*minswv1.CreateServiceResponse, error) {
	d.die()
	<-ctx.Done()
	return &minswv1.CreateServiceResponse{}, nil
}

func (d dyingControl) GetService(ctx context.Context, _ *minswv1.GetServiceRequest) (*minswv1.GetServiceResponse, error) {
	d.die()
	<-ctx.Done()
	return &minswv1.GetServiceResponse{}, nil
}

// A write whose daemon died after receiving it may have been applied: the
// client says so instead of "Cannot connect ... is the daemon running?".
func TestWriteCutOffMidCallIsUnknownNotCannotConnect(t *testing.T) {
	for _, write := range []bool{true, false} {
		path := filepath.Join(t.TempDir(), "d.sock")
		l, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer()
		minswv1.RegisterControlServer(srv, dyingControl{die: func() { go srv.Stop() }})
		go srv.Serve(l)
		c, err := New(path)
		if err != nil {
			t.Fatal(err)
		}
		if write {
			_, err = c.Control.CreateService(context.Background(), &minswv1.CreateServiceRequest{})
			if got, want := Message(err), "the connection to the daemon broke while the request was in flight: the request may or may not have been applied: check with service ls"; got != want {
				t.Fatalf("write: got %q, want %q", got, want)
			}
		} else {
			// A read changes nothing: no "may or may not" for it.
			_, err = c.Control.GetService(context.Background(), &minswv1.GetServiceRequest{})
			if err == nil || strings.Contains(Message(err), "may or may not") {
				t.Fatalf("read: got %v", err)
			}
		}
		c.Close()
	}
	// A daemon that is not there at all: nothing was sent, so it is a
	// definite "cannot connect" for a write too.
	c, err := New(filepath.Join(t.TempDir(), "none.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Control.CreateService(context.Background(), &minswv1.CreateServiceRequest{})
	var ce *ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("no daemon: got %v, want a ConnectError", err)
	}
}
