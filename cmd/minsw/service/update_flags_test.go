package service_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/minsw/minsw/cmd/minsw/internal/clitest"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

func TestServiceUpdateConfigFlags(t *testing.T) {
	d := clitest.Seed()
	sock := d.Serve(t)
	_, errOut, code := clitest.Run(t, sock, "", "service", "update", "-d",
		"--update-parallelism", "2", "--update-delay", "3s", "--update-failure-action", "rollback",
		"--update-order", "start-first", "--update-monitor", "7s", "--update-max-failure-ratio", "0.25",
		"--rollback-parallelism", "0", "--rollback-failure-action", "continue", "web")
	if code != 0 {
		t.Fatalf("update: %d %s", code, errOut)
	}
	u, r := d.Services[0].Spec.Update, d.Services[0].Spec.Rollback
	if u.GetParallelism() != 2 || u.GetDelay().AsDuration() != 3*time.Second || u.GetFailureAction() != minswv1.UpdateFailureAction_UPDATE_FAILURE_ACTION_ROLLBACK ||
		u.GetOrder() != minswv1.UpdateOrder_UPDATE_ORDER_START_FIRST || u.GetMonitor().AsDuration() != 7*time.Second || u.GetMaxFailureRatio() != 0.25 {
		t.Errorf("update config %v", u)
	}
	if r.GetParallelism() != 0 || r.GetFailureAction() != minswv1.UpdateFailureAction_UPDATE_FAILURE_ACTION_CONTINUE || r.GetMonitor().AsDuration() != 5*time.Second {
		t.Errorf("rollback config %v", r)
	}
	// A later update changes only what its flags say.
	clitest.Run(t, sock, "", "service", "update", "-d", "--update-delay", "1s", "web")
	if u := d.Services[0].Spec.Update; u.GetDelay().AsDuration() != time.Second || u.GetParallelism() != 2 {
		t.Errorf("partial update changed more: %v", u)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--update-failure-action", "explode"}, `invalid argument "explode" for "--update-failure-action" flag: must be "pause", "continue" or "rollback"`},
		{[]string{"--rollback-failure-action", "rollback"}, `invalid argument "rollback" for "--rollback-failure-action" flag: must be "pause" or "continue"`},
		{[]string{"--update-order", "sideways"}, `invalid argument "sideways" for "--update-order" flag: must be "start-first" or "stop-first"`},
		{[]string{"--update-max-failure-ratio", "2"}, `invalid argument "2" for "--update-max-failure-ratio" flag: must be between 0 and 1`},
	} {
		before := d.Services[0].Meta.Version
		_, errOut, code := clitest.Run(t, sock, "", append(append([]string{"service", "update", "-d"}, tc.args...), "web")...)
		if code != 1 || strings.TrimSpace(errOut) != tc.want {
			t.Errorf("%v: exit %d %q, want %q", tc.args, code, errOut, tc.want)
		}
		if d.Services[0].Meta.Version != before {
			t.Errorf("%v changed the service", tc.args)
		}
	}
}

func TestServiceCreateSetsDockerDefaults(t *testing.T) {
	d := clitest.Seed()
	sock := d.Serve(t)
	_, errOut, code := clitest.Run(t, sock, "", "service", "create", "-d", "--name", "api", "--update-order", "start-first", "busybox")
	if code != 0 {
		t.Fatal(errOut)
	}
	s := d.Services[len(d.Services)-1].Spec
	if u := s.Update; u.GetParallelism() != 1 || u.GetMonitor().AsDuration() != 5*time.Second || u.GetOrder() != minswv1.UpdateOrder_UPDATE_ORDER_START_FIRST {
		t.Errorf("update config %v", u)
	}
	if s.Rollback.GetParallelism() != 1 || s.Rollback.GetFailureAction() != minswv1.UpdateFailureAction_UPDATE_FAILURE_ACTION_PAUSE {
		t.Errorf("rollback config %v", s.Rollback)
	}
}

func TestServiceInspectPrettyUpdateStatus(t *testing.T) {
	d := clitest.Seed()
	sock := d.Serve(t)
	clitest.Run(t, sock, "", "service", "update", "-d", "--update-failure-action", "rollback", "--update-order", "start-first", "web")
	now := time.Now()
	d.Services[0].UpdateStatus = &minswv1.UpdateStatus{
		State:       minswv1.UpdateState_UPDATE_STATE_ROLLBACK_COMPLETED,
		StartedAt:   timestamppb.New(now.Add(-90 * time.Second)),
		CompletedAt: timestamppb.New(now.Add(-30 * time.Second)),
		Message:     "rollback completed",
	}
	// The CLI's clock stays at now: "30 seconds ago" on a real clock
	// needs the call to finish within a second.
	out, _, _ := clitest.RunWith(t, sock, "", clitest.FrozenAt(now), "service", "inspect", "--pretty", "web")
	for _, want := range []string{
		"UpdateStatus:\n State:\t\trollback_completed\n Started:\tAbout a minute ago\n Completed:\t30 seconds ago\n Message:\trollback completed\n",
		"UpdateConfig:\n Parallelism:\t1\n On failure:\trollback\n Monitoring Period: 5s\n Max failure ratio: 0\n Update order:      start-first\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("pretty lacks\n%q\nin\n%s", want, out)
		}
	}
	out, _, _ = clitest.Run(t, sock, "", "service", "inspect", "web")
	if !strings.Contains(out, `"UpdateStatus": {`) || !strings.Contains(out, `"State": "rollback_completed"`) {
		t.Errorf("json status: %s", out)
	}
}

func TestServiceHealthFlags(t *testing.T) {
	d := clitest.Seed()
	sock := d.Serve(t)
	_, errOut, code := clitest.Run(t, sock, "", "service", "create", "-d", "--name", "api", "--health-cmd", "wget -qO- localhost || exit 1",
		"--health-interval", "2s", "--health-retries", "4", "--health-start-period", "10s", "--health-start-interval", "500ms", "busybox")
	if code != 0 {
		t.Fatal(errOut)
	}
	h := d.Services[len(d.Services)-1].Spec.Task.Container.Healthcheck
	if strings.Join(h.GetTest(), "|") != "CMD-SHELL|wget -qO- localhost || exit 1" || h.GetInterval().AsDuration() != 2*time.Second ||
		h.GetRetries() != 4 || h.GetStartPeriod().AsDuration() != 10*time.Second || h.GetStartInterval().AsDuration() != 500*time.Millisecond || h.GetTimeout() != nil {
		t.Errorf("healthcheck %v", h)
	}
	clitest.Run(t, sock, "", "service", "update", "-d", "--health-timeout", "3s", "api")
	h = d.Services[len(d.Services)-1].Spec.Task.Container.Healthcheck
	if h.GetTimeout().AsDuration() != 3*time.Second || h.GetRetries() != 4 {
		t.Errorf("update changed more than the timeout: %v", h)
	}
	clitest.Run(t, sock, "", "service", "update", "-d", "--no-healthcheck", "api")
	if h := d.Services[len(d.Services)-1].Spec.Task.Container.Healthcheck; strings.Join(h.GetTest(), "") != "NONE" {
		t.Errorf("--no-healthcheck: %v", h)
	}
	_, errOut, code = clitest.Run(t, sock, "", "service", "create", "-d", "--no-healthcheck", "--health-cmd", "true", "busybox")
	if code != 1 || strings.TrimSpace(errOut) != "--no-healthcheck conflicts with --health-* options" {
		t.Errorf("conflict: %d %q", code, errOut)
	}
}
