package engineapi_test

import (
	"strings"
	"testing"
	"time"
)

// docker events --filter type=container shows what happens to this node's
// task containers: created and started for a new task, then killed, died
// (with its exit code) and destroyed when the service goes.
func TestDockerContainerEvents(t *testing.T) {
	d := startDaemon(t, "swarm-manager")
	d.initSwarm()
	start := time.Now().Add(-time.Second)
	d.ok("service", "create", "--detach", "--name", "evc", "--no-resolve-image", "containous/whoami")
	format := "{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{index .Actor.Attributes \"com.docker.swarm.service.name\"}}"
	since := start.UTC().Format(time.RFC3339Nano)
	eventually(t, 30*time.Second, func() string {
		out := d.ok("events", "--since", since, "--until", "0s", "--filter", "type=container", "--format", format)
		if !strings.Contains(out, "container create evc.1.") || !strings.Contains(out, "container start evc.1.") {
			return "no create and start of evc.1's container:\n" + out
		}
		return ""
	})
	d.ok("service", "rm", "evc")
	eventually(t, 30*time.Second, func() string {
		out := d.ok("events", "--since", since, "--until", "0s", "--filter", "type=container", "--filter", "event=destroy", "--format", format)
		if !strings.Contains(out, "container destroy evc.1.") {
			return "no destroy of evc.1's container:\n" + out
		}
		return ""
	})
	// Only containers: no service event passes the type filter.
	out := d.ok("events", "--since", since, "--until", "0s", "--filter", "type=container", "--format", "{{.Type}}")
	for _, l := range strings.Fields(out) {
		if l != "container" {
			t.Fatalf("type=container let through %q:\n%s", l, out)
		}
	}
}
