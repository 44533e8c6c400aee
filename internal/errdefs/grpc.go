package errdefs

import (
	"context"

	"google.golang.org/grpc"
)

// UnaryServerInterceptor is the error edge of a gRPC server: every error a
// handler (or an inner interceptor: auth, forwarding) returns leaves as a
// gRPC status with its kind's code. It is the only place errors become gRPC
// statuses; put it first in the chain so it sees them all.
func UnaryServerInterceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if err != nil {
		return nil, ToGRPC(err)
	}
	return resp, nil
}

// StreamServerInterceptor is UnaryServerInterceptor for streaming calls.
func StreamServerInterceptor(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return ToGRPC(handler(srv, ss))
}
