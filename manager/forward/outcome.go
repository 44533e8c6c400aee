package forward

import (
	"context"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/minsw/minsw/internal/dialerr"
	"github.com/minsw/minsw/internal/errdefs"
)

// answeredHeader is a trailer every manager sets on its answers to
// leader-only calls: an error that comes without it was made by the
// connection, not by a manager.
const answeredHeader = "minsw-answered-by"

// ForwardError turns the error of a call relayed to another manager into
// what the caller must be told. A manager's own answer (the trailer says
// so) is passed on as it is. A broken connection is a definite failure for
// a read, and for a write that never left (the dial failed); a write that
// may have reached the leader before the connection broke (EOF, reset,
// deadline) has an unknown outcome, and is reported as such.
func ForwardError(fullMethod string, err error, trailer metadata.MD) error {
	if err == nil || len(trailer.Get(answeredHeader)) > 0 {
		return err
	}
	st, _ := status.FromError(err)
	switch st.Code() {
	case codes.Unavailable, codes.Unknown, codes.Internal, codes.DeadlineExceeded, codes.Canceled:
	default:
		return err // a refusal, not a broken connection
	}
	if isRead(fullMethod) || neverSent(st) {
		return errdefs.Unavailable("cannot reach the leader (%s)", dialCause(st.Message()))
	}
	var cause error
	if st.Code() == codes.DeadlineExceeded {
		cause = context.DeadlineExceeded
	}
	return errdefs.OutcomeUnknown(checkFor(fullMethod), cause)
}

// neverSent recognises gRPC's failures to open a connection: the request
// never left, so nothing can have been applied.
func neverSent(st *status.Status) bool {
	return st.Code() == codes.Unavailable && strings.Contains(st.Message(), "Error while dialing")
}

// checkFor names the command that shows whether a write was applied.
func checkFor(fullMethod string) string {
	name := fullMethod[strings.LastIndex(fullMethod, "/")+1:]
	for _, k := range []string{"Network", "Node", "Secret", "Config"} {
		if strings.HasSuffix(name, k) {
			return strings.ToLower(k) + " ls"
		}
	}
	return "service ls"
}

func dialCause(msg string) string { return dialerr.Cause(msg) }
