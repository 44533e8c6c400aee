package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/minsw/minsw/internal/errdefs"
)

// NewIdempotencyKey is the request ID a create carries: the CLI reuses it
// when it retries, so the manager answers a retry with the object the
// first attempt made instead of a duplicate or "name in use".
func NewIdempotencyKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// DefaultUnknownRetries are the waits before each new try of a create
// whose outcome is unknown (with its key), before the CLI says it does not
// know.
func DefaultUnknownRetries() []time.Duration {
	return []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}
}

// RetryUnknown calls create until it gets an answer that is not an unknown
// outcome, or runs out of retries (one per wait); create must carry the
// same idempotency key each time, which makes the retry safe.
func RetryUnknown[T any](ctx context.Context, waits []time.Duration, create func(context.Context) (T, error)) (T, error) {
	for i := 0; ; i++ {
		out, err := create(ctx)
		if err == nil || !errdefs.Is(err, errdefs.KindOutcomeUnknown) || i == len(waits) {
			return out, err
		}
		select {
		case <-ctx.Done():
			return out, err
		case <-time.After(waits[i]):
		}
	}
}
