package controlapi

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/minsw/minsw/internal/errdefs"
)

// The server's errors as a client sees them: mapped once, at the edge
// (errdefs' interceptors), to a gRPC status.

func edgeCode(err error) codes.Code                  { return status.Code(errdefs.ToGRPC(err)) }
func edgeStatus(err error) *status.Status            { return status.Convert(errdefs.ToGRPC(err)) }
func edgeFromError(err error) (*status.Status, bool) { return status.FromError(errdefs.ToGRPC(err)) }
