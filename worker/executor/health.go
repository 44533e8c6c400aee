package executor

import (
	"context"
	"time"
)

// Healthcheck is an image's HEALTHCHECK, as its config declares it.
type Healthcheck struct {
	Test          []string // ["CMD", ...], ["CMD-SHELL", cmd], ["NONE"]
	Interval      time.Duration
	Timeout       time.Duration
	StartPeriod   time.Duration
	StartInterval time.Duration
	Retries       int
}

// ImageHealth is what the agent needs of an executor to honour images'
// HEALTHCHECK; both the containerd executor and the fake implement it.
type ImageHealth interface {
	// ImageHealthcheck returns the image's check, nil when it has none.
	// The image must have been pulled.
	ImageHealthcheck(ctx context.Context, image string) (*Healthcheck, error)
}
