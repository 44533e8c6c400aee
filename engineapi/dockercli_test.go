package engineapi_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests drive real `minsw daemon` processes (in-memory executor,
// loopback TCP, unix sockets in a temp dir) with the real docker CLI found
// on PATH, and check what docker prints.

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "minsw-engineapi-")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "minsw")
	out, err := exec.Command("go", "build", "-o", binPath, "../cmd/minsw").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building minsw: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type daemon struct {
	t      testing.TB
	name   string
	dir    string
	listen string
	cmd    *exec.Cmd
}

func freePort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startDaemon starts a daemon named name in a temp dir of its own.
func startDaemon(t testing.TB, name string) *daemon {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatal("the docker CLI is not on PATH (scripts/deps.sh installs Debian's docker.io)")
	}
	d := &daemon{t: t, name: name, dir: t.TempDir(), listen: freePort(t)}
	logf, err := os.Create(filepath.Join(d.dir, "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command(binPath, "daemon", "--executor", "fake", "--node-name", name,
		"--data-root", filepath.Join(d.dir, "data"), "--exec-root", filepath.Join(d.dir, "run"),
		"--listen-addr", d.listen, "--heartbeat-period", "300ms", "--raft-heartbeat", "300ms", "--log-level", "warn")
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = d.cmd.Process.Signal(syscall.SIGKILL)
		_ = d.cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("daemon %s log:\n%s", name, b)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.Dial("unix", d.dockerSock()); err == nil {
			c.Close()
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon %s did not open its docker socket", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *daemon) dockerSock() string { return filepath.Join(d.dir, "run", "docker.sock") }

// docker runs the docker CLI against d; stdout+stderr and the exit code.
func (d *daemon) docker(args ...string) (string, int) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+d.dockerSock(), "DOCKER_CONFIG="+filepath.Join(d.dir, "docker-config"), "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		d.t.Fatalf("running docker %v: %v", args, err)
	}
	return string(out), code
}

func (d *daemon) ok(args ...string) string {
	d.t.Helper()
	out, code := d.docker(args...)
	if code != 0 {
		d.t.Fatalf("docker %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

func (d *daemon) fails(args ...string) string {
	d.t.Helper()
	out, code := d.docker(args...)
	if code == 0 {
		d.t.Fatalf("docker %s succeeded, want a failure\n%s", strings.Join(args, " "), out)
	}
	return out
}

// http is a client of d's Engine API socket.
func (d *daemon) http() *http.Client {
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", d.dockerSock())
		},
	}}
}

// initSwarm makes d a one-node swarm through `docker swarm init`.
func (d *daemon) initSwarm() string {
	d.t.Helper()
	return d.ok("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", d.listen)
}

// eventually retries f until it returns "" or the time is up.
func eventually(t *testing.T, within time.Duration, f func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		msg := f()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func contains(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Fatalf("output lacks %q:\n%s", w, out)
		}
	}
}

func matches(t *testing.T, out string, re ...string) {
	t.Helper()
	for _, r := range re {
		if !regexp.MustCompile(r).MatchString(out) {
			t.Fatalf("output does not match %s:\n%s", r, out)
		}
	}
}

func TestDockerSwarmInitNodeLsInfo(t *testing.T) {
	d := startDaemon(t, "swarm-manager")
	out := d.ok("info")
	contains(t, out, "Swarm: inactive", "Name: swarm-manager", "Operating System: minsw")
	out = d.fails("node", "ls")
	contains(t, out, `This node is not a swarm manager. Use "docker swarm init" or "docker swarm join"`)

	out = d.initSwarm()
	matches(t, out, `Swarm initialized: current node \([a-z0-9]{25}\) is now a manager`,
		`docker swarm join --token SWMTKN-1-\S+ 127\.0\.0\.1:\d+`)
	out = d.ok("node", "ls")
	matches(t, out, `(?m)^ID\s+HOSTNAME\s+STATUS\s+AVAILABILITY\s+MANAGER STATUS\s+ENGINE VERSION$`,
		`(?m)^[a-z0-9]{25} \*\s+swarm-manager\s+Ready\s+Active\s+Leader\s+0\.1\.0$`)
	out = d.ok("info")
	contains(t, out, "Swarm: active", "Is Manager: true", "Managers: 1", "Nodes: 1", "Task History Retention Limit: 5")
	out = d.ok("network", "ls")
	matches(t, out, `(?m)^[0-9a-z]{12}\s+ingress\s+overlay\s+swarm$`)
	out = d.ok("node", "update", "--availability", "drain", "--label-add", "zone=a", "swarm-manager")
	out = d.ok("node", "inspect", "--format", "{{.Spec.Availability}} {{.Spec.Labels}}", "self")
	contains(t, out, "drain map[zone:a]")
	out = d.ok("node", "ls", "--filter", "role=worker")
	if strings.Contains(out, "swarm-manager") {
		t.Fatalf("role=worker filter kept the manager:\n%s", out)
	}
}

func TestDockerServiceLifecycle(t *testing.T) {
	d := startDaemon(t, "swarm-manager")
	d.initSwarm()

	out := d.ok("service", "create", "--name", "web", "--replicas", "2", "--update-monitor", "1s", "--no-resolve-image", "containous/whoami")
	matches(t, out, `(?m)^[a-z0-9]{25}$`, `overall progress: 2 out of 2 tasks`, `verify: Service \S+ converged`)
	out = d.ok("service", "ls")
	matches(t, out, `(?m)^ID\s+NAME\s+MODE\s+REPLICAS\s+IMAGE\s+PORTS$`,
		`(?m)^[a-z0-9]{12}\s+web\s+replicated\s+2/2\s+containous/whoami:latest\s*$`)
	out = d.ok("service", "ps", "web")
	matches(t, out, `(?m)^[a-z0-9]{12}\s+web\.1\s+containous/whoami:latest\s+swarm-manager\s+Running\s+Running `,
		`(?m)^[a-z0-9]{12}\s+web\.2\s+containous/whoami:latest\s+swarm-manager\s+Running\s+Running `)
	out = d.ok("service", "inspect", "--pretty", "web")
	matches(t, out, `(?m)^Name:\s+web$`, `(?m)^Service Mode:\s+Replicated$`, `(?m)^ Replicas:\s+2$`,
		`(?m)^ Image:\s+containous/whoami:latest$`, `(?m)^Endpoint Mode:\s+vip$`)

	out = d.ok("service", "update", "--image", "containous/whoami:v2", "--no-resolve-image", "web")
	contains(t, out, "web", "converged")
	out = d.ok("service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}} {{.PreviousSpec.TaskTemplate.ContainerSpec.Image}}", "web")
	contains(t, out, "containous/whoami:v2 containous/whoami:latest")

	out = d.ok("service", "scale", "web=3")
	contains(t, out, "web scaled to 3", "converged")
	eventually(t, 30*time.Second, func() string {
		if out := d.ok("service", "ls"); !regexp.MustCompile(`web\s+replicated\s+3/3`).MatchString(out) {
			return "web did not reach 3/3:\n" + out
		}
		return ""
	})

	out = d.ok("service", "rm", "web")
	contains(t, out, "web")
	out = d.ok("service", "ls", "-q")
	if strings.TrimSpace(out) != "" {
		t.Fatalf("service ls after rm: %q", out)
	}
	out = d.fails("service", "inspect", "web")
	contains(t, out, "no such service: web")
}

// call makes one Engine API request and returns the status and body.
func (d *daemon) call(method, path string, body io.Reader) (int, string) {
	d.t.Helper()
	req, err := http.NewRequest(method, "http://docker"+path, body)
	if err != nil {
		d.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.http().Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEngineAPIBadInput(t *testing.T) {
	d := startDaemon(t, "swarm-manager")
	d.initSwarm()
	d.ok("service", "create", "--detach", "--name", "web", "--no-resolve-image", "containous/whoami")
	before := d.ok("service", "inspect", "web")
	version := strings.TrimSpace(d.ok("service", "inspect", "--format", "{{.Version.Index}}", "web"))
	spec := strings.TrimSpace(d.ok("service", "inspect", "--format", "{{json .Spec}}", "web"))

	cases := []struct {
		name, method, path string
		body               io.Reader
		status             int
		msg                string
	}{
		{"unknown endpoint", "POST", "/v1.47/build", nil, 501, "minsw does not implement POST /build"},
		{"unknown service", "GET", "/v1.47/services/nosuch", nil, 404, "nosuch"},
		{"malformed JSON", "POST", "/v1.47/services/create", strings.NewReader(`{"Name": "x",`), 400, "invalid JSON"},
		{"empty body", "POST", "/v1.47/services/create", strings.NewReader(``), 400, "the request body is empty"},
		{"10 MB body", "POST", "/v1.47/services/create", strings.NewReader(`{"Name":"` + strings.Repeat("x", 10<<20) + `"}`), 413, "request body is larger than"},
		{"wrong version", "POST", "/v1.47/services/web/update?version=1", strings.NewReader(spec), 409, "update out of sequence"},
		{"no version", "POST", "/v1.47/services/web/update", strings.NewReader(spec), 400, "version"},
		{"bad filter", "GET", `/v1.47/services?filters={"colour":["red"]}`, nil, 400, "invalid filter 'colour'"},
		{"too new a client", "GET", "/v1.99/services", nil, 400, "client version 1.99 is too new"},
		{"a volume subpath", "POST", "/v1.47/services/create", strings.NewReader(`{"Name":"m","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Mounts":[{"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{"Subpath":"x"}}]}}}`), 501, "TaskTemplate.ContainerSpec.Mounts.VolumeOptions.Subpath"},
		{"a relative bind source", "POST", "/v1.47/services/create", strings.NewReader(`{"Name":"m","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Mounts":[{"Type":"bind","Source":"rel","Target":"/host"}]}}}`), 400, "rel"},
	}
	for _, c := range cases {
		status, body := d.call(c.method, c.path, c.body)
		if status != c.status || !strings.Contains(body, c.msg) || !strings.HasPrefix(body, `{"message":`) {
			t.Errorf("%s: got %d %s, want %d with %q", c.name, status, body, c.status, c.msg)
		}
	}
	if version == "1" {
		t.Fatal("the service's version is 1: the wrong-version case proves nothing")
	}
	if status, body := d.call("GET", "/_ping", nil); status != 200 || body != "OK" {
		t.Fatalf("daemon not up after bad input: %d %s", status, body)
	}
	if after := d.ok("service", "inspect", "web"); after != before {
		t.Fatalf("bad input changed the service:\n%s\n%s", before, after)
	}
	if out := d.ok("service", "ls", "-q"); len(strings.Fields(out)) != 1 {
		t.Fatalf("bad input left services behind:\n%s", out)
	}
}
