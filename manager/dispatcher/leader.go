package dispatcher

import (
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/minsw/minsw/internal/errdefs"
)

// NotLeaderReason and LeaderKey name the error detail a follower attaches
// when it refuses a session, so a worker can follow it without parsing the
// message.
const (
	NotLeaderReason = "NOT_LEADER"
	LeaderKey       = "leader"
	errorDomain     = "minsw"
)

// NotLeaderError is the error a manager whose dispatcher does not run
// answers with: FailedPrecondition naming the leader, or Unavailable when
// there is none.
func NotLeaderError(leader string) error {
	if leader == "" {
		return errdefs.Unavailable("the swarm does not have a leader")
	}
	st := status.New(codes.FailedPrecondition, "not the leader; the leader is at "+leader)
	if withInfo, err := st.WithDetails(&errdetails.ErrorInfo{
		Reason: NotLeaderReason, Domain: errorDomain, Metadata: map[string]string{LeaderKey: leader},
	}); err == nil {
		st = withInfo
	}
	return st.Err()
}

// LeaderFromError returns the leader address a NotLeaderError carries.
func LeaderFromError(err error) (string, bool) {
	if err == nil {
		return "", false
	}
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) {
		return "", false
	}
	for _, d := range se.GRPCStatus().Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() == NotLeaderReason {
			if addr := info.GetMetadata()[LeaderKey]; addr != "" {
				return addr, true
			}
		}
	}
	return "", false
}
