// Package errdefs gives errors a kind that survives wrapping, so the API edge
// can map them once to gRPC codes and the CLI once to a one-line message.
package errdefs

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Kind is the class of an error as a caller must react to it.
type Kind int

const (
	KindUnknown Kind = iota
	KindInvalidArgument
	KindNotFound
	KindAlreadyExists
	KindFailedPrecondition
	KindUnavailable
	KindConflict // an optimistic write lost a race; retry with fresh state
)

type kindError struct {
	kind Kind
	err  error
}

func (e *kindError) Error() string { return e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }

func newf(k Kind, format string, a ...any) error {
	return &kindError{kind: k, err: fmt.Errorf(format, a...)}
}

func InvalidArgument(format string, a ...any) error { return newf(KindInvalidArgument, format, a...) }
func NotFound(format string, a ...any) error        { return newf(KindNotFound, format, a...) }
func AlreadyExists(format string, a ...any) error   { return newf(KindAlreadyExists, format, a...) }
func FailedPrecondition(format string, a ...any) error {
	return newf(KindFailedPrecondition, format, a...)
}
func Unavailable(format string, a ...any) error { return newf(KindUnavailable, format, a...) }
func Conflict(format string, a ...any) error    { return newf(KindConflict, format, a...) }

// KindOf returns the kind of the outermost classified error in err's chain.
func KindOf(err error) Kind {
	var ke *kindError
	if errors.As(err, &ke) {
		return ke.kind
	}
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.InvalidArgument:
			return KindInvalidArgument
		case codes.NotFound:
			return KindNotFound
		case codes.AlreadyExists:
			return KindAlreadyExists
		case codes.FailedPrecondition:
			return KindFailedPrecondition
		case codes.Unavailable:
			return KindUnavailable
		case codes.Aborted:
			return KindConflict
		}
	}
	return KindUnknown
}

func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }

// ToGRPC maps err to a gRPC status error, once, at the API edge.
func ToGRPC(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Unknown
	switch KindOf(err) {
	case KindInvalidArgument:
		code = codes.InvalidArgument
	case KindNotFound:
		code = codes.NotFound
	case KindAlreadyExists:
		code = codes.AlreadyExists
	case KindFailedPrecondition:
		code = codes.FailedPrecondition
	case KindUnavailable:
		code = codes.Unavailable
	case KindConflict:
		code = codes.Aborted
	default:
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			code = codes.DeadlineExceeded
		case errors.Is(err, context.Canceled):
			code = codes.Canceled
		}
	}
	return status.Error(code, err.Error())
}
