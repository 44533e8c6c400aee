// Package client is the Go client of a minsw daemon's local unix socket: it
// dials the socket and hands out the typed gRPC clients (Control, Swarm,
// Containers) the CLI uses. It owns connection handling and the mapping of
// failures to one-line messages; it knows nothing about tables or commands.
package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/minsw/minsw/internal/errdefs"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// DefaultHost is where the daemon listens unless told otherwise.
const DefaultHost = "unix:///var/run/minsw/minsw.sock"

// HostEnv names the environment variable that overrides DefaultHost.
const HostEnv = "MINSW_HOST"

// Client holds one connection to a daemon and the typed API clients on it.
type Client struct {
	host string
	conn *grpc.ClientConn

	Control    minswv1.ControlClient
	Swarm      minswv1.SwarmClient
	Containers minswv1.ContainersClient
	Networks   minswv1.NetworksClient
	Volumes    minswv1.VolumesClient
	Images     minswv1.ImagesClient
}

// ResolveHost picks the daemon address: the flag if set, else $MINSW_HOST,
// else DefaultHost.
func ResolveHost(flag string) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv(HostEnv); env != "" {
		return env
	}
	return DefaultHost
}

// ParseHost turns "unix:///path", "unix://path" or a plain path into the
// socket path and the canonical "unix://" form shown in messages.
func ParseHost(host string) (path, canonical string, err error) {
	switch {
	case strings.HasPrefix(host, "unix://"):
		path = strings.TrimPrefix(host, "unix://")
	case strings.Contains(host, "://"):
		scheme, _, _ := strings.Cut(host, "://")
		return "", "", fmt.Errorf("unsupported host %q: only unix:// sockets are supported, not %s://", host, scheme)
	default:
		path = host
	}
	if path == "" {
		return "", "", fmt.Errorf("invalid host %q: empty socket path", host)
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return path, "unix://" + path, nil
}

// New prepares a connection to the daemon at host (see ParseHost). It does
// not wait for the daemon: a missing daemon shows up on the first call as a
// *ConnectError.
func New(host string) (*Client, error) {
	path, canonical, err := ParseHost(host)
	if err != nil {
		return nil, err
	}
	c := &Client{host: canonical}
	dial := func(ctx context.Context, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}
	conn, err := grpc.NewClient("passthrough:///minsw",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(dial),
		grpc.WithChainUnaryInterceptor(c.unaryInterceptor, FollowPages),
		grpc.WithChainStreamInterceptor(c.streamInterceptor),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", canonical, err)
	}
	c.conn = conn
	c.Control = minswv1.NewControlClient(conn)
	c.Swarm = minswv1.NewSwarmClient(conn)
	c.Containers = minswv1.NewContainersClient(conn)
	c.Networks = minswv1.NewNetworksClient(conn)
	c.Volumes = minswv1.NewVolumesClient(conn)
	c.Images = minswv1.NewImagesClient(conn)
	return c, nil
}

// Host is the canonical address of the daemon, e.g. unix:///var/run/minsw/minsw.sock.
func (c *Client) Host() string { return c.host }

// Close releases the connection.
func (c *Client) Close() error { return c.conn.Close() }

// ConnectError says that no daemon answered at Host.
type ConnectError struct {
	Host string
	Err  error
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("Cannot connect to the minsw daemon at %s: is the daemon running?", e.Host)
}

func (e *ConnectError) Unwrap() error { return e.Err }

// wrap turns a transport failure into a *ConnectError. A daemon that answers
// Unavailable itself (e.g. "the swarm does not have a leader") leaves the
// connection ready, so its message is kept.
func (c *Client) wrap(err error) error {
	if err == nil {
		return nil
	}
	if status.Code(err) == codes.Unavailable && c.conn.GetState() != connectivity.Ready {
		return &ConnectError{Host: c.host, Err: err}
	}
	return err
}

// wrapCall is wrap for a unary call: a write whose connection broke after
// it was sent (the daemon died or restarted mid-call) may have been
// applied, so it is reported as unknown, never as "cannot connect".
func (c *Client) wrapCall(method string, err error) error {
	if status.Code(err) == codes.Unavailable && isWrite(method) && brokenAfterSending(err) {
		return status.Error(codes.Unknown, brokenInFlight+
			errdefs.OutcomeUnknown(checkWith(method), err).Error())
	}
	return c.wrap(err)
}

// brokenInFlight starts the message of a write whose connection broke.
const brokenInFlight = "the connection to the daemon broke while the request was in flight: "

// brokenAfterSending reports whether gRPC says the connection broke under
// a call (the daemon's own Unavailable answers, such as "no leader", and a
// socket that could not be dialled at all are definite).
func brokenAfterSending(err error) bool {
	msg := status.Convert(err).Message()
	if strings.Contains(msg, "while dialing") {
		return false
	}
	for _, s := range []string{"error reading from server", "transport is closing", "connection closed", "connection reset", "broken pipe"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return strings.HasSuffix(msg, "EOF")
}

// isWrite reports whether a method (/minsw.v1.Control/CreateService) may
// change state: anything but a Get, List, Info, Inspect or Logs.
func isWrite(method string) bool {
	name := method[strings.LastIndexByte(method, '/')+1:]
	for _, p := range []string{"Get", "List", "Info", "Inspect", "Logs", "ServiceLogs"} {
		if strings.HasPrefix(name, p) {
			return false
		}
	}
	return true
}

// checkWith names the command that shows whether a write of method took
// effect.
func checkWith(method string) string {
	name := method[strings.LastIndexByte(method, '/')+1:]
	for _, k := range []string{"Service", "Network", "Node", "Secret", "Config", "Volume"} {
		if strings.HasSuffix(name, k) {
			return strings.ToLower(k) + " ls"
		}
	}
	return "swarm inspect"
}

func (c *Client) unaryInterceptor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return c.wrapCall(method, invoker(ctx, method, req, reply, cc, opts...))
}

func (c *Client) streamInterceptor(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, c.wrap(err)
	}
	return &wrappedStream{ClientStream: s, c: c}, nil
}

// wrappedStream maps transport failures on a stream's messages too: a
// stream is created lazily, so the dial error surfaces on the first Recv.
type wrappedStream struct {
	grpc.ClientStream
	c *Client
}

func (s *wrappedStream) RecvMsg(m any) error { return s.c.wrap(s.ClientStream.RecvMsg(m)) }
func (s *wrappedStream) SendMsg(m any) error { return s.c.wrap(s.ClientStream.SendMsg(m)) }

// Message renders err as the one line the CLI prints: the connect error as
// is, a daemon's refusal as "Error response from daemon: <message>", and
// anything else by its own text.
func Message(err error) string {
	if err == nil {
		return ""
	}
	var ce *ConnectError
	if errors.As(err, &ce) {
		return ce.Error()
	}
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		st := se.GRPCStatus()
		switch st.Code() {
		case codes.ResourceExhausted:
			if strings.Contains(st.Message(), "larger than max") {
				// gRPC's own limit, before any handler saw the request.
				return "Error response from daemon: the request is larger than the 4 MiB a message may carry (one spec may be at most 1.5 MiB)"
			}
		case codes.Unknown:
			if strings.HasPrefix(st.Message(), brokenInFlight) {
				return st.Message() // the daemon did not answer
			}
		case codes.Canceled:
			return "operation canceled"
		case codes.DeadlineExceeded:
			if errdefs.Is(err, errdefs.KindOutcomeUnknown) {
				break // the message says what is known
			}
			return "Error response from daemon: timed out: " + st.Message()
		}
		return "Error response from daemon: " + st.Message()
	}
	return err.Error()
}

// IsNotFound reports whether the daemon answered NotFound.
func IsNotFound(err error) bool { return status.Code(err) == codes.NotFound }
