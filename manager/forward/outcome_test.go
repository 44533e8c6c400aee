package forward

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// A relayed call's error: a manager's answer passes as it is; a broken
// connection makes a write's outcome unknown, and a read (or a write that
// never left) a plain failure.
func TestForwardError(t *testing.T) {
	answered := metadata.Pairs(answeredHeader, "leader")
	eof := status.Error(codes.Unavailable, "error reading from server: EOF")
	reset := status.Error(codes.Unavailable, "read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer")
	dial := status.Error(codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:2377: connect: connection refused"`)
	deadline := status.Error(codes.DeadlineExceeded, "context deadline exceeded")
	for _, tc := range []struct {
		name    string
		method  string
		err     error
		trailer metadata.MD
		code    codes.Code
		msg     string
	}{
		{"create whose connection hit EOF", api.Control_CreateService_FullMethodName, eof, nil, codes.Unknown,
			"the request may or may not have been applied: check with service ls"},
		{"network create reset by peer", api.Control_CreateNetwork_FullMethodName, reset, nil, codes.Unknown,
			"the request may or may not have been applied: check with network ls"},
		{"update past the caller's deadline", api.Control_UpdateService_FullMethodName, deadline, nil, codes.DeadlineExceeded,
			"the request may or may not have been applied: check with service ls"},
		{"the leader's own no-leader answer", api.Control_CreateService_FullMethodName, status.Error(codes.Unavailable, "the swarm does not have a leader"), answered, codes.Unavailable,
			"the swarm does not have a leader"},
		{"the leader's own unknown outcome", api.Control_CreateService_FullMethodName, status.Error(codes.Unknown, "the request may or may not have been applied: check with service ls"), answered, codes.Unknown,
			"the request may or may not have been applied: check with service ls"},
		{"a refusal", api.Control_CreateService_FullMethodName, status.Error(codes.AlreadyExists, "service web already exists"), nil, codes.AlreadyExists,
			"service web already exists"},
		{"a read whose connection hit EOF", api.Control_ListServices_FullMethodName, eof, nil, codes.Unavailable,
			"cannot reach the leader (connection closed)"},
		{"a write that never left", api.Control_CreateService_FullMethodName, dial, nil, codes.Unavailable,
			"cannot reach the leader (connection refused)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := edgeStatus(ForwardError(tc.method, tc.err, tc.trailer))
			if st.Code() != tc.code || st.Message() != tc.msg {
				t.Fatalf("got %v %q, want %v %q", st.Code(), st.Message(), tc.code, tc.msg)
			}
			unknown := errdefs.KindOf(st.Err()) == errdefs.KindOutcomeUnknown
			if want := tc.code == codes.Unknown || tc.code == codes.DeadlineExceeded; unknown != want {
				t.Fatalf("outcome unknown %v, want %v", unknown, want)
			}
		})
	}
}
