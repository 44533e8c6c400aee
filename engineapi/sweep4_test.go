package engineapi_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Found different from docker's in a fourth sweep with the real docker
// CLI and Python SDK.

// TestDockerServiceLsModeFilterKnowsJobs: docker service ls --filter
// mode=replicated-job|global-job lists the job services (a job counted as
// "replicated", so the filter listed none), and runtime= is served.
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
	// runtime=container is every minsw service and task (it was refused
	// as an invalid filter); docker's other kinds are none of them.
	if got := strings.Fields(d.ok("service", "ls", "-q", "--filter", "runtime=container")); len(got) != 3 {
		t.Errorf("service ls --filter runtime=container: %q", got)
	}
	if got := strings.TrimSpace(d.ok("service", "ls", "-q", "--filter", "runtime=plugin")); got != "" {
		t.Errorf("service ls --filter runtime=plugin: %q", got)
	}
	if got := strings.TrimSpace(d.ok("service", "ps", "--format", "{{.Name}}", "--filter", "runtime=container", "svc")); got != "svc.1" {
		t.Errorf("service ps --filter runtime=container svc: %q", got)
	}
}

// TestDockerNetworkPrune: docker network prune removes the swarm networks
// no service uses, keeping ingress and the node's own (it was a 501), and
// network ls takes docker's dangling filter.
func TestDockerNetworkPrune(t *testing.T) {
	d := startDaemon(t, "swarm-manager")
	d.initSwarm()
	d.ok("network", "create", "-d", "overlay", "used")
	d.ok("network", "create", "-d", "overlay", "idle")
	d.ok("network", "create", "-d", "overlay", "--label", "keep=yes", "kept")
	d.ok("service", "create", "--detach", "--name", "web", "--network", "used", "--no-resolve-image", "busybox", "sleep", "1000")
	out := d.ok("network", "prune", "--force", "--filter", "label!=keep")
	if strings.TrimSpace(out) != "Deleted Networks:\nidle" {
		t.Fatalf("network prune --filter label!=keep:\n%s", out)
	}
	if out := d.ok("network", "prune", "--force", "--filter", "until=1h"); strings.TrimSpace(out) != "" {
		t.Fatalf("network prune --filter until=1h (kept is newer): %q", out)
	}
	out = d.ok("network", "ls", "--format", "{{.Name}}")
	for _, n := range []string{"ingress", "used", "kept", "host"} {
		contains(t, out, n+"\n")
	}
	if strings.Contains(out, "idle") {
		t.Fatalf("idle is still listed:\n%s", out)
	}
	out = d.fails("network", "prune", "--force", "--filter", "until=yesterday")
	contains(t, out, "invalid filter 'until=yesterday'")

	// The dangling filter as docker's daemon applies it (it was refused):
	// not predefined and nothing shown on it, which on a manager is every
	// swarm network as listed.
	out = d.ok("network", "ls", "--filter", "dangling=true", "--format", "{{.Name}}")
	contains(t, out, "ingress\n", "used\n", "kept\n")
	if strings.Contains(out, "host") || strings.Contains(out, "none") {
		t.Fatalf("network ls --filter dangling=true lists a predefined network:\n%s", out)
	}
	out = d.ok("network", "ls", "--filter", "dangling=false", "--format", "{{.Name}}")
	contains(t, out, "host\n", "none\n")
	if strings.Contains(out, "used") {
		t.Fatalf("network ls --filter dangling=false lists a swarm network:\n%s", out)
	}
	out = d.fails("network", "ls", "--filter", "dangling=maybe")
	contains(t, out, `invalid value for filter 'dangling', must be "true" (or "1"), or "false" (or "0")`)
}

// TestDockerSwarmInitAndJoinAvailability: docker swarm init|join
// --availability drain start the node drained, as docker's (a manager
// meant to run no tasks); both were refused. Leaving no swarm is docker's
// "not part of a swarm", not its manager-call message.
func TestDockerSwarmInitAndJoinAvailability(t *testing.T) {
	m := startDaemon(t, "swarm-manager")
	w := startDaemon(t, "swarm-worker1")
	out := w.fails("swarm", "leave")
	if strings.TrimSpace(out) != "Error response from daemon: This node is not part of a swarm" {
		t.Fatalf("swarm leave outside a swarm:\n%s", out)
	}
	m.ok("swarm", "init", "--availability", "drain", "--advertise-addr", "127.0.0.1", "--listen-addr", m.listen)
	token := strings.TrimSpace(m.ok("swarm", "join-token", "-q", "manager"))
	w.ok("swarm", "join", "--availability", "pause", "--token", token, "--advertise-addr", "127.0.0.1", "--listen-addr", w.listen, m.listen)
	out = m.ok("node", "ls", "--format", "{{.Hostname}} {{.Availability}}")
	contains(t, out, "swarm-manager Drain\n", "swarm-worker1 Pause\n")
}

// TestDockerPsLastSinceBefore: docker ps -n N and -l show the N newest
// containers, and --filter since=|before= those made after or before one
// (ps listed every container for -n and -l, and refused since and before).
func TestDockerPsLastSinceBefore(t *testing.T) {
	d := startDaemon(t, "swarm-manager")
	d.initSwarm()
	ids := map[string]string{}
	for _, name := range []string{"first", "second", "third"} {
		d.ok("service", "create", "--detach", "--name", name, "--no-resolve-image", "busybox", "sleep", "1000")
		eventually(t, 30*time.Second, func() string {
			if ids[name] = strings.TrimSpace(d.ok("ps", "-q", "--filter", "name="+name)); ids[name] == "" {
				return name + " has no container yet"
			}
			return ""
		})
	}
	names := func(args ...string) string {
		out := d.ok(append([]string{"ps", "--format", "{{.Label \"com.docker.swarm.service.name\"}}"}, args...)...)
		return strings.Join(strings.Fields(out), " ")
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "third second first"},
		{[]string{"-n", "2"}, "third second"},
		{[]string{"-l"}, "third"},
		{[]string{"--filter", "since=" + ids["first"]}, "third second"},
		{[]string{"--filter", "before=" + ids["third"]}, "second first"},
		{[]string{"--filter", "since=" + ids["first"], "--filter", "before=" + ids["third"]}, "second"},
	} {
		if got := names(c.args...); got != c.want {
			t.Errorf("docker ps %v: %q, want %q", c.args, got, c.want)
		}
	}
}

// TestDockerStopKillRmTaskContainer: docker stop, kill and rm -f on a
// task's container end it, and the swarm replaces the task, as a Swarm
// user checks a service heals (all three were 501); docker container
// prune removes the stopped ones and docker wait waits for one to stop
// (both were 501 too).
func TestDockerStopKillRmTaskContainer(t *testing.T) {
	d := startDaemon(t, "swarm-manager")
	d.initSwarm()
	d.ok("service", "create", "--detach", "--name", "web", "--restart-delay", "100ms", "--no-resolve-image", "busybox", "sleep", "1000")
	running := func(not string) string {
		var id string
		eventually(t, 60*time.Second, func() string {
			id = strings.TrimSpace(d.ok("ps", "-q", "--filter", "label=com.docker.swarm.service.name=web"))
			if id == "" || id == not || strings.Contains(id, "\n") {
				return "no single new container of web: " + id
			}
			return ""
		})
		return id
	}
	first := running("")
	// docker wait answers once the container stops, with its exit code.
	waited := make(chan string, 1)
	wait := exec.Command("docker", "wait", first)
	wait.Env = append(os.Environ(), "DOCKER_HOST=unix://"+d.dockerSock(), "DOCKER_CONFIG="+filepath.Join(d.dir, "docker-config"))
	go func() { out, _ := wait.CombinedOutput(); waited <- string(out) }()
	// Most likely the wait is under way before the stop; if not, it
	// answers the same at once.
	time.Sleep(500 * time.Millisecond)
	if out := strings.TrimSpace(d.ok("stop", "-t", "1", first)); out != first {
		t.Fatalf("docker stop printed %q", out)
	}
	select {
	case out := <-waited:
		if strings.TrimSpace(out) != "143" {
			t.Fatalf("docker wait printed %q, want the exit code 143", out)
		}
	case <-time.After(time.Minute):
		t.Fatal("docker wait did not answer after the stop")
	}
	second := running(first)
	// docker events says kill, die and stop, as docker's daemon.
	eventually(t, 30*time.Second, func() string {
		out := d.ok("events", "--since", "10m", "--until", "0s", "--filter", "type=container", "--filter", "container="+first, "--format", "{{.Action}}")
		if a := strings.Fields(out); !slices.Contains(a, "kill") || !slices.Contains(a, "die") || !slices.Contains(a, "stop") {
			return "events of the stopped container: " + out
		}
		return ""
	})
	out := d.fails("kill", "-s", "HUP", second)
	contains(t, out, "minsw can send a task's container only SIGKILL")
	d.ok("kill", second)
	out = d.fails("kill", second)
	contains(t, out, "is not running")
	third := running(second)
	out = d.fails("rm", third)
	contains(t, out, "container is running: stop the container before removing or force remove")
	d.ok("rm", "-f", third)
	running(third)
	d.ok("rm", first)
	if out := d.ok("ps", "-aq", "--no-trunc"); strings.Contains(out, first) {
		t.Fatalf("%s still listed after docker rm:\n%s", first, out)
	}
	out = d.ok("service", "ps", "--format", "{{.CurrentState}} {{.Error}}", "web")
	contains(t, out, "(143)")
	matches(t, out, `(?m)^Running `)
	// docker container prune removes the stopped ones (second's), keeps
	// the running one, and leaves the tasks in the service's history.
	out = d.ok("container", "prune", "--force")
	contains(t, out, "Deleted Containers:\n"+second)
	if got := strings.Fields(d.ok("ps", "-aq")); len(got) != 1 {
		t.Fatalf("after container prune: %q, want the running container only", got)
	}
	if got := strings.Fields(d.ok("service", "ps", "-q", "web")); len(got) != 4 {
		t.Fatalf("service ps after container prune: %q, want 4 tasks", got)
	}
}

// TestDockerPsPortsAndPortFilters: docker ps shows the ports a task
// publishes on its node (mode=host) as docker shows a container's
// bindings, and filters on them (PORTS was always empty, and publish= and
// expose= were refused as invalid filters); docker port lists them.
func TestDockerPsPortsAndPortFilters(t *testing.T) {
	d := startDaemon(t, "swarm-manager")
	d.initSwarm()
	d.ok("service", "create", "--detach", "--name", "hostport", "--publish", "mode=host,published=18081,target=80", "--no-resolve-image", "busybox", "sleep", "1000")
	d.ok("service", "create", "--detach", "--name", "meshport", "--publish", "18082:80", "--no-resolve-image", "busybox", "sleep", "1000")
	eventually(t, 30*time.Second, func() string {
		if out := d.ok("ps", "--format", "{{.Ports}}", "--filter", "label=com.docker.swarm.service.name=hostport"); strings.TrimSpace(out) != "0.0.0.0:18081->80/tcp" {
			return "hostport's container ports: " + out
		}
		return ""
	})
	for _, c := range []struct{ filter, want string }{
		{"publish=18081", "hostport"},
		{"publish=18081/tcp", "hostport"},
		{"publish=18080-18090", "hostport"},
		{"publish=18081/udp", ""},
		{"publish=18082", ""}, // the routing mesh's port, not the container's
		{"expose=80", "hostport"},
	} {
		if got := strings.TrimSpace(d.ok("ps", "--format", `{{.Label "com.docker.swarm.service.name"}}`, "--filter", c.filter)); got != c.want {
			t.Errorf("docker ps --filter %s: %q, want %q", c.filter, got, c.want)
		}
	}
	// docker port reads them from container inspect.
	id := strings.TrimSpace(d.ok("ps", "-q", "--filter", "label=com.docker.swarm.service.name=hostport"))
	if got := strings.TrimSpace(d.ok("port", id)); got != "80/tcp -> 0.0.0.0:18081" {
		t.Errorf("docker port: %q", got)
	}
}
