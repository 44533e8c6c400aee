package errdefs

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestInterceptorsMapEveryKindOnce(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want codes.Code
	}{
		{NotFound("service web not found"), codes.NotFound},
		{fmt.Errorf("update: %w", InvalidArgument("invalid replicas")), codes.InvalidArgument},
		{PermissionDenied("node x is a worker"), codes.PermissionDenied},
		{Unauthenticated("no certificate"), codes.Unauthenticated},
		{Conflict("out of sequence"), codes.Aborted},
		{context.Canceled, codes.Canceled},
		{errors.New("disk on fire"), codes.Unknown},
		{status.Error(codes.Unavailable, "relayed as is"), codes.Unavailable},
	} {
		_, err := UnaryServerInterceptor(context.Background(), nil, &grpc.UnaryServerInfo{},
			func(context.Context, any) (any, error) { return nil, tc.err })
		if status.Code(err) != tc.want || status.Convert(err).Message() != tc.err.Error() && status.Convert(tc.err).Message() != status.Convert(err).Message() {
			t.Errorf("%v: got %v, want %v", tc.err, err, tc.want)
		}
		serr := StreamServerInterceptor(nil, nil, &grpc.StreamServerInfo{}, func(any, grpc.ServerStream) error { return tc.err })
		if status.Code(serr) != tc.want {
			t.Errorf("stream %v: got %v, want %v", tc.err, serr, tc.want)
		}
	}
	resp, err := UnaryServerInterceptor(context.Background(), nil, &grpc.UnaryServerInfo{},
		func(context.Context, any) (any, error) { return "ok", nil })
	if resp != "ok" || err != nil {
		t.Fatalf("a success: %v %v", resp, err)
	}
}
