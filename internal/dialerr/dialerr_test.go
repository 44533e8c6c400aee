package dialerr

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestCauses(t *testing.T) {
	for _, tc := range []struct{ msg, want string }{
		{`connection error: desc = "transport: Error while dialing: dial tcp 192.168.56.10:2377: connect: connection refused"`, "connection refused"},
		{`connection error: desc = "transport: Error while dialing: dial tcp 192.168.56.10:2377: connect: no route to host"`, "no route to host"},
		{"error reading from server: EOF", "connection closed"},
		{"dial tcp 10.0.0.1:2377: i/o timeout", "timed out"},
		{"something else", "unreachable"},
	} {
		if got := Cause(tc.msg); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.msg, got, tc.want)
		}
	}
	refused := status.Error(codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial tcp 192.168.56.10:2377: connect: connection refused"`)
	if !NeverSent(refused) || NeverSent(status.Error(codes.Unavailable, "error reading from server: EOF")) {
		t.Error("NeverSent")
	}
	err := Unreachable("192.168.56.10:2377", refused)
	if err.Error() != "cannot reach the manager at 192.168.56.10:2377 (connection refused)" || !IsUnreachable(err) || !errors.Is(err, refused) {
		t.Errorf("Unreachable: %v", err)
	}
	denied := status.Error(codes.PermissionDenied, "no")
	if Unreachable("x", denied) != denied {
		t.Error("a refusal is not a connection failure")
	}
}
