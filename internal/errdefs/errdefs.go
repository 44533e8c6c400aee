// Package errdefs gives errors a kind that survives wrapping, so the API edge
// can map them once to gRPC codes and the CLI once to a one-line message.
package errdefs

import (
	"context"
	"errors"
	"fmt"
	"strings"

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
	// KindOutcomeUnknown: a write may or may not have been applied (the
	// leader was lost, or the caller's deadline passed, after the entry may
	// have been appended). Never report it as a failure: check, or retry
	// with the same idempotency key.
	KindOutcomeUnknown
	// KindUnimplemented: the request is well formed but asks for something
	// minsw does not do (the Engine API's 501).
	KindUnimplemented
	// KindUnauthenticated: the caller did not say who it is (no node
	// certificate where one is needed).
	KindUnauthenticated
	// KindPermissionDenied: the caller is known and may not do this.
	KindPermissionDenied
)

// OutcomeUnknownMessage is in the message of every KindOutcomeUnknown
// error; clients of the gRPC API recognise the kind by it (the code alone,
// Unknown or DeadlineExceeded, is shared with other errors).
const OutcomeUnknownMessage = "the request may or may not have been applied"

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
func Unimplemented(format string, a ...any) error {
	return newf(KindUnimplemented, format, a...)
}

func Unauthenticated(format string, a ...any) error {
	return newf(KindUnauthenticated, format, a...)
}
func PermissionDenied(format string, a ...any) error {
	return newf(KindPermissionDenied, format, a...)
}

// OutcomeUnknown says a write may or may not have been applied; check
// names the command that shows which ("service ls"). cause (may be nil)
// is kept in the chain for errors.Is (context.DeadlineExceeded maps to
// DeadlineExceeded) but not shown.
func OutcomeUnknown(check string, cause error) error {
	return &kindError{kind: KindOutcomeUnknown, err: &outcomeError{msg: OutcomeUnknownMessage + ": check with " + check, cause: cause}}
}

type outcomeError struct {
	msg   string
	cause error
}

func (e *outcomeError) Error() string { return e.msg }
func (e *outcomeError) Unwrap() error { return e.cause }

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
		case codes.Unknown, codes.DeadlineExceeded:
			if strings.Contains(s.Message(), OutcomeUnknownMessage) {
				return KindOutcomeUnknown
			}
		case codes.Unimplemented:
			return KindUnimplemented
		case codes.Unauthenticated:
			return KindUnauthenticated
		case codes.PermissionDenied:
			return KindPermissionDenied
		}
	}
	return KindUnknown
}

func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }

// ToGRPC maps err to a gRPC status error. Servers do not call it: the
// interceptors in grpc.go do, once, at the API edge.
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
	case KindOutcomeUnknown:
		if errors.Is(err, context.DeadlineExceeded) {
			code = codes.DeadlineExceeded
		}
	case KindUnimplemented:
		code = codes.Unimplemented
	case KindUnauthenticated:
		code = codes.Unauthenticated
	case KindPermissionDenied:
		code = codes.PermissionDenied
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
