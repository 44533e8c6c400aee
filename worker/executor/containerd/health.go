package containerd

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/containerd/containerd/content"

	"github.com/minsw/minsw/worker/executor"
)

// imageConfig is the part of an image config blob that holds docker's
// HEALTHCHECK extension (not in the OCI struct): durations in nanoseconds.
type imageConfig struct {
	Config struct {
		Healthcheck *struct {
			Test          []string
			Interval      time.Duration
			Timeout       time.Duration
			StartPeriod   time.Duration
			StartInterval time.Duration
			Retries       int
		}
	} `json:"config"`
}

// ImageHealthcheck reads the image's HEALTHCHECK from its config blob.
func (e *Executor) ImageHealthcheck(ctx context.Context, image string) (*executor.Healthcheck, error) {
	ctx = e.ns(ctx)
	img, err := e.image(ctx, image)
	if err != nil {
		return nil, err
	}
	desc, err := img.Config(ctx)
	if err != nil {
		return nil, fmt.Errorf("image %s config: %w", image, err)
	}
	blob, err := content.ReadBlob(ctx, img.ContentStore(), desc)
	if err != nil {
		return nil, fmt.Errorf("image %s config: %w", image, err)
	}
	return parseImageHealthcheck(blob)
}

func parseImageHealthcheck(blob []byte) (*executor.Healthcheck, error) {
	var c imageConfig
	if err := json.Unmarshal(blob, &c); err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	h := c.Config.Healthcheck
	if h == nil || len(h.Test) == 0 {
		return nil, nil
	}
	return &executor.Healthcheck{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
		StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries}, nil
}
