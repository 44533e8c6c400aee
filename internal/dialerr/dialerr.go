// Package dialerr says in a user's words why a connection to a manager
// failed, from gRPC's transport text ("connection error: desc = \"transport:
// Error while dialing: dial tcp 10.0.0.1:2377: connect: connection
// refused\"" is "connection refused"), so no raw Go or gRPC text reaches
// users. It owns no connections.
package dialerr

import (
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Cause is the one-line cause of a failed connection.
func Cause(msg string) string {
	for _, c := range []struct{ in, out string }{
		{"connection refused", "connection refused"},
		{"no route to host", "no route to host"},
		{"network is unreachable", "network is unreachable"},
		{"connection reset", "connection reset"},
		{"i/o timeout", "timed out"},
		{"deadline exceeded", "timed out"},
		{"no such host", "unknown host"},
		{"EOF", "connection closed"},
		{"certificate", "its certificate was refused"},
	} {
		if strings.Contains(msg, c.in) {
			return c.out
		}
	}
	return "unreachable"
}

// NeverSent recognises gRPC's failures to open a connection: the request
// never left, so nothing can have been applied.
func NeverSent(err error) bool {
	st, ok := status.FromError(err)
	return ok && st.Code() == codes.Unavailable && strings.Contains(st.Message(), "Error while dialing")
}

// Unreachable is the error a caller of the manager at addr is told when
// the connection failed: "cannot reach the manager at ADDR (connection
// refused)"; other errors are returned as they are.
func Unreachable(addr string, err error) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.Unavailable {
		return err
	}
	return &unreachable{addr: addr, cause: Cause(st.Message()), err: err}
}

type unreachable struct {
	addr, cause string
	err         error
}

func (u *unreachable) Error() string {
	return "cannot reach the manager at " + u.addr + " (" + u.cause + ")"
}
func (u *unreachable) Unwrap() error { return u.err }

// IsUnreachable reports whether err is an Unreachable error.
func IsUnreachable(err error) bool {
	var u *unreachable
	return errors.As(err, &u)
}
