package health

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

var t0 = time.Unix(1_700_000_000, 0)

func TestMonitor(t *testing.T) {
	cfg := Config{Test: []string{"CMD", "true"}, Interval: 10 * time.Second, Timeout: time.Second, Retries: 3,
		StartPeriod: 30 * time.Second, StartInterval: 2 * time.Second}
	const (
		ok   = 0
		fail = 1
	)
	cases := []struct {
		name   string
		probes []struct {
			at   time.Duration
			exit int
		}
		want   api.HealthState
		streak int
	}{
		{"starts as starting", nil, api.HealthState_HEALTH_STATE_STARTING, 0},
		{"one success makes it healthy", []struct {
			at   time.Duration
			exit int
		}{{1 * time.Second, ok}}, api.HealthState_HEALTH_STATE_HEALTHY, 0},
		{"failures in the start period do not count", []struct {
			at   time.Duration
			exit int
		}{{2 * time.Second, fail}, {4 * time.Second, fail}, {6 * time.Second, fail}, {8 * time.Second, fail}}, api.HealthState_HEALTH_STATE_STARTING, 0},
		{"after the start period, retries failures make it unhealthy", []struct {
			at   time.Duration
			exit int
		}{{31 * time.Second, fail}, {41 * time.Second, fail}, {51 * time.Second, fail}}, api.HealthState_HEALTH_STATE_UNHEALTHY, 3},
		{"two failures are not yet unhealthy", []struct {
			at   time.Duration
			exit int
		}{{1 * time.Second, ok}, {11 * time.Second, fail}, {21 * time.Second, fail}}, api.HealthState_HEALTH_STATE_HEALTHY, 2},
		{"a success in the start period ends it: failures count at once", []struct {
			at   time.Duration
			exit int
		}{{1 * time.Second, ok}, {3 * time.Second, fail}, {5 * time.Second, fail}, {7 * time.Second, fail}}, api.HealthState_HEALTH_STATE_UNHEALTHY, 3},
		{"a success resets the streak", []struct {
			at   time.Duration
			exit int
		}{{31 * time.Second, fail}, {41 * time.Second, fail}, {51 * time.Second, ok}, {61 * time.Second, fail}}, api.HealthState_HEALTH_STATE_HEALTHY, 1},
		{"an unhealthy container recovers on success", []struct {
			at   time.Duration
			exit int
		}{{31 * time.Second, fail}, {41 * time.Second, fail}, {51 * time.Second, fail}, {61 * time.Second, ok}}, api.HealthState_HEALTH_STATE_HEALTHY, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := NewMonitor(cfg, t0)
			for _, p := range c.probes {
				m.Observe(Probe{Start: t0.Add(p.at), End: t0.Add(p.at), ExitCode: p.exit})
			}
			if m.State() != c.want || m.FailingStreak() != c.streak {
				t.Fatalf("state %v streak %d, want %v %d", m.State(), m.FailingStreak(), c.want, c.streak)
			}
		})
	}
}

func TestNextUsesStartIntervalOnlyWhileStarting(t *testing.T) {
	m := NewMonitor(Config{Test: []string{"CMD", "true"}, Interval: 10 * time.Second, Retries: 3, StartPeriod: 30 * time.Second, StartInterval: 2 * time.Second}, t0)
	if d := m.Next(t0.Add(time.Second)); d != 2*time.Second {
		t.Fatalf("in start period: %s", d)
	}
	m.Observe(Probe{Start: t0.Add(time.Second), ExitCode: 0})
	if d := m.Next(t0.Add(2 * time.Second)); d != 10*time.Second {
		t.Fatalf("after a success: %s", d)
	}
	if d := NewMonitor(m.cfg, t0).Next(t0.Add(31 * time.Second)); d != 10*time.Second {
		t.Fatalf("after the start period: %s", d)
	}
}

func TestLogKeepsLastFiveProbesTruncated(t *testing.T) {
	m := NewMonitor(Config{Test: []string{"CMD", "true"}, Retries: 3}, t0)
	for i := 0; i < 7; i++ {
		m.Observe(Probe{Start: t0.Add(time.Duration(i) * time.Second), ExitCode: i, Output: strings.Repeat("x", 5000)})
	}
	l := m.Log()
	if len(l) != KeepProbes || l[0].ExitCode != 2 || len(l[4].Output) != MaxOutput {
		t.Fatalf("log: %d probes, first exit %d, output %d", len(l), l[0].ExitCode, len(l[4].Output))
	}
}

func TestResolve(t *testing.T) {
	image := &api.HealthConfig{Test: []string{"CMD-SHELL", "wget -q localhost"}, Interval: durationpb.New(time.Minute), Retries: 5}
	cases := []struct {
		name    string
		service *api.HealthConfig
		image   *api.HealthConfig
		want    string // Command + interval + retries + timeout, or "none"
	}{
		{"no check anywhere", nil, nil, "none"},
		{"the image's check", nil, image, "[/bin/sh -c wget -q localhost] 1m0s 5 30s"},
		{"the service's fields win", &api.HealthConfig{Interval: durationpb.New(2 * time.Second), Timeout: durationpb.New(time.Second)}, image, "[/bin/sh -c wget -q localhost] 2s 5 1s"},
		{"the service's command wins", &api.HealthConfig{Test: []string{"CMD", "/bin/true"}}, image, "[/bin/true] 1m0s 5 30s"},
		{"--no-healthcheck turns the image's off", &api.HealthConfig{Test: []string{"NONE"}}, image, "none"},
		{"docker's defaults", &api.HealthConfig{Test: []string{"CMD", "true"}}, nil, "[true] 30s 3 30s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := "none"
			if r := Resolve(c.service, c.image); r != nil {
				got = strings.Join([]string{strings.Join([]string{"[" + strings.Join(r.Command(), " ") + "]", r.Interval.String()}, " "),
					itoa(r.Retries), r.Timeout.String()}, " ")
			}
			if got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestStatusText(t *testing.T) {
	for s, want := range map[api.HealthState]string{
		api.HealthState_HEALTH_STATE_NONE:      "",
		api.HealthState_HEALTH_STATE_STARTING:  "(health: starting)",
		api.HealthState_HEALTH_STATE_HEALTHY:   "(healthy)",
		api.HealthState_HEALTH_STATE_UNHEALTHY: "(unhealthy)",
	} {
		if got := StatusText(s); got != want {
			t.Errorf("%v: %q, want %q", s, got, want)
		}
	}
}
