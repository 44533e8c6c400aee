package fake

import (
	"context"
	"strings"
	"time"

	"github.com/minsw/minsw/worker/executor"
)

// ImageHealthcheck gives images named "...healthy..." a check that passes
// and "...sick..." one that fails: the fake's Exec runs ["exit", "N"].
func (e *Executor) ImageHealthcheck(ctx context.Context, image string) (*executor.Healthcheck, error) {
	code := ""
	switch {
	case strings.Contains(image, "sick"):
		code = "1"
	case strings.Contains(image, "healthy"):
		code = "0"
	default:
		return nil, nil
	}
	return &executor.Healthcheck{Test: []string{"CMD", "exit", code}, Interval: 100 * time.Millisecond,
		Timeout: time.Second, Retries: 2}, nil
}
