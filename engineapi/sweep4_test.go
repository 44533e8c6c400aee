package engineapi_test

import (
	"strings"
	"testing"
)

// Found different from docker's in a fourth sweep with the real docker
// CLI and Python SDK.

// TestDockerServiceLsModeFilterKnowsJobs: docker service ls --filter
// mode=replicated-job|global-job lists the job services (a job counted as
// "replicated", so the filter listed none).
func TestDockerServiceLsModeFilterKnowsJobs(t *testing.T) {
	d := startDaemon(t, "swarm-manager")
	d.initSwarm()
	d.ok("service", "create", "--detach", "--name", "svc", "--no-resolve-image", "busybox", "sleep", "1000")
	d.ok("service", "create", "--detach", "--name", "once", "--mode", "replicated-job", "--no-resolve-image", "busybox", "true")
	d.ok("service", "create", "--detach", "--name", "each", "--mode", "global-job", "--no-resolve-image", "busybox", "true")
	for _, c := range []struct{ mode, want string }{
		{"replicated", "svc"},
		{"replicated-job", "once"},
		{"global-job", "each"},
		{"global", ""},
	} {
		if got := strings.TrimSpace(d.ok("service", "ls", "--filter", "mode="+c.mode, "--format", "{{.Name}}")); got != c.want {
			t.Errorf("service ls --filter mode=%s: %q, want %q", c.mode, got, c.want)
		}
	}
}
