package service

import (
	"errors"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/protobuf/types/known/durationpb"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// healthFlags are docker's --health-* and --no-healthcheck, the same on
// service create and update.
type healthFlags struct {
	cmd                                           string
	interval, timeout, startPeriod, startInterval time.Duration
	retries                                       int
	none                                          bool
}

func (h *healthFlags) register(f *pflag.FlagSet) {
	f.StringVar(&h.cmd, "health-cmd", "", "Command to run to check health")
	f.DurationVar(&h.interval, "health-interval", 0, "Time between running the check (ms|s|m|h)")
	f.DurationVar(&h.timeout, "health-timeout", 0, "Maximum time to allow one check to run (ms|s|m|h)")
	f.IntVar(&h.retries, "health-retries", 0, "Consecutive failures needed to report unhealthy")
	f.DurationVar(&h.startPeriod, "health-start-period", 0, "Start period for the container to initialize before counting retries towards unstable (ms|s|m|h)")
	f.DurationVar(&h.startInterval, "health-start-interval", 0, "Time between running the check during the start period (ms|s|m|h)")
	f.BoolVar(&h.none, "no-healthcheck", false, "Disable any container-specified HEALTHCHECK")
}

// apply changes ct's health check by the flags given (create and update).
func (h *healthFlags) apply(f *pflag.FlagSet, ct *minswv1.ContainerSpec) error {
	names := []string{"health-cmd", "health-interval", "health-timeout", "health-retries", "health-start-period", "health-start-interval"}
	any := false
	for _, n := range names {
		any = any || f.Changed(n)
	}
	if h.none {
		if any {
			return errors.New("--no-healthcheck conflicts with --health-* options")
		}
		ct.Healthcheck = &minswv1.HealthConfig{Test: []string{"NONE"}}
		return nil
	}
	if !any {
		return nil
	}
	hc := ct.GetHealthcheck()
	if hc == nil || (len(hc.GetTest()) > 0 && hc.GetTest()[0] == "NONE") {
		hc = &minswv1.HealthConfig{}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
		set  **durationpb.Duration
	}{
		{"health-interval", h.interval, &hc.Interval},
		{"health-timeout", h.timeout, &hc.Timeout},
		{"health-start-period", h.startPeriod, &hc.StartPeriod},
		{"health-start-interval", h.startInterval, &hc.StartInterval},
	} {
		if !f.Changed(d.name) {
			continue
		}
		if d.v < 0 {
			return invalidFlag(d.name, d.v.String(), errors.New("must not be negative"))
		}
		*d.set = durationpb.New(d.v)
	}
	if f.Changed("health-retries") {
		if h.retries < 0 {
			return invalidFlag("health-retries", f.Lookup("health-retries").Value.String(), errors.New("must not be negative"))
		}
		hc.Retries = uint32(h.retries)
	}
	if f.Changed("health-cmd") {
		hc.Test = nil
		if h.cmd != "" {
			hc.Test = []string{"CMD-SHELL", h.cmd}
		}
	}
	ct.Healthcheck = hc
	return nil
}
