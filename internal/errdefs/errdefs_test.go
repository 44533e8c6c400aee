package errdefs

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// An unknown outcome keeps its kind through wrapping, through the gRPC
// edge and back on the client side, and is never mistaken for a failure.
func TestOutcomeUnknownRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cause error
		code  codes.Code
	}{
		{"leader lost mid-commit", nil, codes.Unknown},
		{"caller's deadline passed", context.DeadlineExceeded, codes.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := fmt.Errorf("creating web: %w", OutcomeUnknown("service ls", tc.cause))
			if KindOf(err) != KindOutcomeUnknown {
				t.Fatalf("kind %v", KindOf(err))
			}
			g := ToGRPC(err)
			st := status.Convert(g)
			if st.Code() != tc.code {
				t.Fatalf("code %v, want %v", st.Code(), tc.code)
			}
			if want := "creating web: the request may or may not have been applied: check with service ls"; st.Message() != want {
				t.Fatalf("message %q", st.Message())
			}
			if KindOf(g) != KindOutcomeUnknown {
				t.Fatalf("client side kind %v", KindOf(g))
			}
		})
	}
	if KindOf(status.Error(codes.Unknown, "boom")) == KindOutcomeUnknown {
		t.Fatal("a plain Unknown error taken for an unknown outcome")
	}
}
