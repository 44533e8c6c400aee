package node_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The docker CLI drives a node that runs real containers (containerd +
// runc): container ls/inspect/logs, and exec with and without a terminal.
func TestDockerCLIContainerd(t *testing.T) {
	c := startContainerdNode(t, "minsw-dockertest")
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatal("the docker CLI is not on PATH (scripts/deps.sh installs Debian's docker.io)")
	}
	if _, err := exec.LookPath("script"); err != nil {
		t.Fatal("script (util-linux) is needed for a terminal")
	}
	docker := func(args ...string) (string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "docker", args...)
		cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+filepath.Join(c.execRoot, "docker.sock"), "DOCKER_CONFIG="+filepath.Join(c.dir, "docker-config"))
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatalf("docker %v: %v", args, err)
		}
		return string(out), 0
	}
	if out, code := docker("service", "create", "--detach", "--name", "client", "--no-resolve-image", "busybox", "sh", "-c", "echo client-up; echo client-err >&2; exec sleep 3600"); code != 0 {
		t.Fatalf("service create: %d\n%s", code, out)
	}
	var id string
	if !within(90*time.Second, func() bool {
		out, _ := docker("container", "ls", "-q", "--filter", "name=client.1")
		id = strings.TrimSpace(out)
		return id != ""
	}) {
		out, _ := docker("service", "ps", "--no-trunc", "client")
		t.Fatalf("no running client container:\n%s", out)
	}
	if out, _ := docker("container", "ls"); !strings.Contains(out, "busybox:latest") || !strings.Contains(out, `"sh -c`) {
		t.Fatalf("container ls:\n%s", out)
	}
	if out, _ := docker("container", "logs", id); !strings.Contains(out, "client-up") {
		t.Fatalf("container logs: %q", out)
	}
	// Each line keeps when it was written and its stream, through the
	// node's log writer: --timestamps, --since/--until, stderr apart.
	out, _ := docker("container", "logs", "--timestamps", id)
	var stamp time.Time
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[1] == "client-up" {
			stamp, _ = time.Parse(time.RFC3339Nano, f[0])
		}
	}
	if stamp.IsZero() || time.Since(stamp) > 10*time.Minute {
		t.Fatalf("container logs --timestamps: %q", out)
	}
	if out, _ := docker("container", "logs", "--since", stamp.Add(time.Hour).Format(time.RFC3339), id); strings.Contains(out, "client-up") {
		t.Fatalf("container logs --since an hour after the line: %q", out)
	}
	if out, _ := docker("container", "logs", "--until", stamp.Add(-time.Hour).Format(time.RFC3339), id); strings.Contains(out, "client-up") {
		t.Fatalf("container logs --until an hour before the line: %q", out)
	}
	cmd := exec.Command("docker", "container", "logs", id)
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+filepath.Join(c.execRoot, "docker.sock"), "DOCKER_CONFIG="+filepath.Join(c.dir, "docker-config"))
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stdout.String() != "client-up\n" || stderr.String() != "client-err\n" {
		t.Fatalf("container logs, streams apart: %v stdout %q stderr %q", err, stdout.String(), stderr.String())
	}
	// No terminal: the hostname is the container ID's first 12 characters.
	if out, code := docker("container", "exec", id, "hostname"); code != 0 || strings.TrimSpace(out) != id[:12] {
		t.Fatalf("exec hostname: %d %q, want %s", code, out, id[:12])
	}
	// A terminal, as `docker container exec -it ID sh` gets one, and the
	// exit code of what ran in it.
	script := exec.Command("script", "-qec", "docker container exec -it "+id+" sh -c 'tty; echo $((6*7)); exit 3'", "/dev/null")
	script.Env = append(os.Environ(), "DOCKER_HOST=unix://"+filepath.Join(c.execRoot, "docker.sock"), "DOCKER_CONFIG="+filepath.Join(c.dir, "docker-config"))
	script.Stdin = strings.NewReader("")
	tout, err := script.CombinedOutput()
	ee, _ := err.(*exec.ExitError)
	if ee == nil || ee.ExitCode() != 3 || !strings.Contains(string(tout), "42") || !strings.Contains(string(tout), "/dev/pts/") {
		t.Fatalf("exec -it: %v\n%q", err, tout)
	}
	// docker kill ends the real task (runc's SIGKILL) and the swarm
	// starts another in its place.
	if out, code := docker("kill", id); code != 0 {
		t.Fatalf("docker kill: %d\n%s", code, out)
	}
	if !within(90*time.Second, func() bool {
		out, _ := docker("container", "ls", "-q", "--filter", "label=com.docker.swarm.service.name=client")
		next := strings.TrimSpace(out)
		return next != "" && !strings.HasPrefix(id, next)
	}) {
		out, _ := docker("service", "ps", "--no-trunc", "client")
		t.Fatalf("no new client container after docker kill:\n%s", out)
	}
	if out, _ := docker("service", "ps", "--format", "{{.Error}}", "client"); !strings.Contains(out, "(137)") {
		t.Fatalf("the killed task's error: %q, want its exit 137", out)
	}
}
