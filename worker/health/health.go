// Package health judges a container's health from the results of its
// health check probes, as docker does: starting until the first success,
// healthy after a success, unhealthy after Retries failures in a row;
// failures inside the start period do not count until a probe succeeds.
// It is a state machine without I/O: the worker agent runs the probes
// (exec through the executor) and feeds their results in.
package health

import (
	"fmt"
	"time"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Docker's defaults for an unset field.
const (
	DefaultInterval      = 30 * time.Second
	DefaultTimeout       = 30 * time.Second
	DefaultRetries       = 3
	DefaultStartInterval = 5 * time.Second
	// MaxOutput is how much of a probe's output is kept (docker: 4 KiB).
	MaxOutput = 4096
	// KeepProbes is how many probe results are kept for inspect (docker: 5).
	KeepProbes = 5
)

// Config is a health check with defaults filled in.
type Config struct {
	// Test is the command: ["CMD", args...] or ["CMD-SHELL", command].
	Test          []string
	Interval      time.Duration
	Timeout       time.Duration
	Retries       int
	StartPeriod   time.Duration
	StartInterval time.Duration
}

// Resolve merges the service's check over the image's (docker's rule: the
// service's non-zero fields win) and fills defaults. It returns nil when
// there is no check or it is turned off (["NONE"]).
func Resolve(service, image *api.HealthConfig) *Config {
	merged := &api.HealthConfig{}
	for _, h := range []*api.HealthConfig{image, service} {
		if h == nil {
			continue
		}
		if len(h.GetTest()) > 0 {
			merged.Test = h.GetTest()
		}
		if h.GetInterval() != nil && h.GetInterval().AsDuration() > 0 {
			merged.Interval = h.GetInterval()
		}
		if h.GetTimeout() != nil && h.GetTimeout().AsDuration() > 0 {
			merged.Timeout = h.GetTimeout()
		}
		if h.GetRetries() > 0 {
			merged.Retries = h.GetRetries()
		}
		if h.GetStartPeriod() != nil && h.GetStartPeriod().AsDuration() > 0 {
			merged.StartPeriod = h.GetStartPeriod()
		}
		if h.GetStartInterval() != nil && h.GetStartInterval().AsDuration() > 0 {
			merged.StartInterval = h.GetStartInterval()
		}
	}
	if len(merged.Test) == 0 || merged.Test[0] == "NONE" || (merged.Test[0] != "CMD" && merged.Test[0] != "CMD-SHELL") || len(merged.Test) < 2 {
		return nil
	}
	c := &Config{
		Test: merged.Test, Interval: DefaultInterval, Timeout: DefaultTimeout, Retries: DefaultRetries,
		StartPeriod: merged.GetStartPeriod().AsDuration(), StartInterval: DefaultStartInterval,
	}
	if merged.Interval != nil {
		c.Interval = merged.Interval.AsDuration()
	}
	if merged.Timeout != nil {
		c.Timeout = merged.Timeout.AsDuration()
	}
	if merged.Retries > 0 {
		c.Retries = int(merged.Retries)
	}
	if merged.StartInterval != nil {
		c.StartInterval = merged.StartInterval.AsDuration()
	}
	return c
}

// Command is the process to exec for a probe.
func (c *Config) Command() []string {
	if c.Test[0] == "CMD-SHELL" {
		return []string{"/bin/sh", "-c", c.Test[1]}
	}
	return c.Test[1:]
}

// Probe is one run of the check.
type Probe struct {
	Start, End time.Time
	ExitCode   int
	Output     string
}

// Monitor holds one container's health.
type Monitor struct {
	cfg       Config
	started   time.Time // container start
	state     api.HealthState
	streak    int  // failures in a row that count
	succeeded bool // a probe has passed: the start period is over
	log       []Probe
}

// NewMonitor begins judging a container started at started.
func NewMonitor(cfg Config, started time.Time) *Monitor {
	return &Monitor{cfg: cfg, started: started, state: api.HealthState_HEALTH_STATE_STARTING}
}

// State is the current verdict.
func (m *Monitor) State() api.HealthState { return m.state }

// FailingStreak is the count of failures in a row that count.
func (m *Monitor) FailingStreak() int { return m.streak }

// Log is the last probes, oldest first.
func (m *Monitor) Log() []Probe { return append([]Probe(nil), m.log...) }

// inStartPeriod says whether failures are still forgiven at t.
func (m *Monitor) inStartPeriod(t time.Time) bool {
	return !m.succeeded && t.Before(m.started.Add(m.cfg.StartPeriod))
}

// Next is how long to wait after a probe ending at t before the next one:
// the start interval while in the start period, else the interval.
func (m *Monitor) Next(t time.Time) time.Duration {
	if m.inStartPeriod(t) {
		return m.cfg.StartInterval
	}
	return m.cfg.Interval
}

// Observe records a probe's result and says whether the verdict changed.
func (m *Monitor) Observe(p Probe) bool {
	if len(p.Output) > MaxOutput {
		p.Output = p.Output[:MaxOutput]
	}
	m.log = append(m.log, p)
	if len(m.log) > KeepProbes {
		m.log = m.log[len(m.log)-KeepProbes:]
	}
	before := m.state
	switch {
	case p.ExitCode == 0:
		m.succeeded = true
		m.streak = 0
		m.state = api.HealthState_HEALTH_STATE_HEALTHY
	case m.inStartPeriod(p.Start):
		// Forgiven: the application may still be starting.
	default:
		m.streak++
		if m.streak >= m.cfg.Retries {
			m.state = api.HealthState_HEALTH_STATE_UNHEALTHY
		}
	}
	return m.state != before
}

// TimeoutProbe is the result of a probe that ran out of time.
func TimeoutProbe(start time.Time, timeout time.Duration) Probe {
	return Probe{Start: start, End: start.Add(timeout), ExitCode: -1,
		Output: fmt.Sprintf("Health check exceeded timeout (%s)", timeout)}
}

// StatusText is the health as `container ls` shows it after "Up 2
// minutes": "(healthy)", "(health: starting)", "(unhealthy)", or "".
func StatusText(s api.HealthState) string {
	switch s {
	case api.HealthState_HEALTH_STATE_STARTING:
		return "(health: starting)"
	case api.HealthState_HEALTH_STATE_HEALTHY:
		return "(healthy)"
	case api.HealthState_HEALTH_STATE_UNHEALTHY:
		return "(unhealthy)"
	}
	return ""
}
