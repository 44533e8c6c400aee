package engineapi_test

import (
	"bufio"
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
func startDaemon(t testing.TB, name string, extra ...string) *daemon {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatal("the docker CLI is not on PATH (scripts/deps.sh installs Debian's docker.io)")
	}
	d := &daemon{t: t, name: name, dir: t.TempDir(), listen: freePort(t)}
	logf, err := os.Create(filepath.Join(d.dir, "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	// 1 s heartbeats: a node silent for 3 s is down. 300 ms (a 900 ms
	// grace, each heartbeat call bounded by 300 ms) let a loaded machine
	// mark a live node down, and its tasks were started again elsewhere.
	d.cmd = exec.Command(binPath, "daemon", "--executor", "fake", "--node-name", name,
		"--data-root", filepath.Join(d.dir, "data"), "--exec-root", filepath.Join(d.dir, "run"),
		"--listen-addr", d.listen, "--heartbeat-period", "1s", "--log-level", "warn")
	d.cmd.Args = append(d.cmd.Args, extra...)
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
	matches(t, out, `(?m)^[0-9a-z]{12}\s+ingress\s+overlay\s+swarm$`, `(?m)^[0-9a-f]{12}\s+host\s+host\s+local$`)
	out = d.ok("network", "inspect", "--format", "{{.Name}} {{.Driver}} {{.Scope}}", "host")
	contains(t, out, "host host local")
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
	// The manager goes on writing the new service (its endpoint) for a
	// moment after create: take "before" once it has settled, or the
	// comparison below sees the manager's writes as the bad input's. A new
	// service gets no UpdateStatus, as in Swarm (none is waited for here).
	var before string
	eventually(t, 60*time.Second, func() string {
		if st := strings.TrimSpace(d.ok("service", "inspect", "--format", "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}", "web")); st != "" && st != "completed" {
			return "the service's rollout is " + st
		}
		first := d.ok("service", "inspect", "web")
		time.Sleep(time.Second)
		if before = d.ok("service", "inspect", "web"); before != first {
			return "the service is still changing"
		}
		return ""
	})
	if st := strings.TrimSpace(d.ok("service", "inspect", "--format", "{{json .UpdateStatus}}", "web")); st != "null" {
		t.Errorf("a new service's UpdateStatus is %s; Swarm's has none until an update", st)
	}
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
		{"an option minsw lacks", "POST", "/v1.47/services/create", strings.NewReader(`{"Name":"m","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Privileges":{"NoNewPrivileges":true}}}}`), 501, "minsw does not support this service option (TaskTemplate.ContainerSpec.Privileges.NoNewPrivileges)"},
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

func TestDockerServiceLogsAndSecrets(t *testing.T) {
	d := startDaemon(t, "swarm-manager")
	d.initSwarm()
	d.ok("service", "create", "--detach", "--name", "web", "--replicas", "2", "--no-resolve-image", "containous/whoami")
	eventually(t, 30*time.Second, func() string {
		if out, _ := d.docker("service", "logs", "web"); strings.Count(out, "| started web.") != 2 {
			return "service logs did not show both tasks:\n" + out
		}
		return ""
	})
	out := d.ok("service", "logs", "web")
	matches(t, out, `(?m)^web\.1\.[a-z0-9]{12}@swarm-manager\s+\| started web\.1\.[a-z0-9]{25}$`,
		`(?m)^web\.2\.[a-z0-9]{12}@swarm-manager\s+\| started web\.2\.[a-z0-9]{25}$`)
	out = d.ok("service", "logs", "--raw", "--tail", "1", "web")
	if strings.Count(out, "started web.") != 2 {
		t.Fatalf("--raw --tail 1: want one line per task:\n%s", out)
	}
	out = d.fails("service", "logs", "nosuch")
	contains(t, out, "no such task or service: nosuch")
	// Times travel with every line from the node that wrote it.
	out = d.ok("service", "logs", "--timestamps", "web")
	matches(t, out, `(?m)^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{9}Z web\.1\.[a-z0-9]{12}@swarm-manager\s+\| started web\.1\.`)
	stamp, err := time.Parse(time.RFC3339Nano, strings.Fields(out)[0])
	if err != nil || time.Since(stamp) > 10*time.Minute || time.Until(stamp) > time.Minute {
		t.Fatalf("--timestamps: %q is not a time of this run (%v)", strings.Fields(out)[0], err)
	}
	if out := d.ok("service", "logs", "--since", "10m", "web"); strings.Count(out, "started web.") != 2 {
		t.Fatalf("--since 10m: want both lines:\n%s", out)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if out := d.ok("service", "logs", "--since", future, "web"); strings.Contains(out, "started") {
		t.Fatalf("--since an hour ahead: want nothing:\n%s", out)
	}
	// --details shows the attributes the service's --log-opt labels= names.
	d.ok("service", "create", "--detach", "--name", "tagged", "--container-label", "tier=front", "--log-driver", "json-file", "--log-opt", "labels=tier", "--no-resolve-image", "containous/whoami")
	eventually(t, 30*time.Second, func() string {
		if out, _ := d.docker("service", "logs", "--details", "tagged"); !strings.Contains(out, "| tier=front started tagged.1.") {
			return "service logs --details did not show tier=front:\n" + out
		}
		return ""
	})
	// minsw's own CLI shows the same: time first, attributes after the bar.
	mout, code := d.minsw("service", "logs", "--timestamps", "--details", "--since", "10m", "tagged")
	if code != 0 {
		t.Fatalf("minsw service logs --timestamps --details --since 10m: exit %d\n%s", code, mout)
	}
	matches(t, mout, `(?m)^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{9}Z tagged\.1\.[a-z0-9]{12}@swarm-manager\s+\| tier=front started tagged\.1\.`)
	if mout, _ := d.minsw("service", "logs", "--since", future, "tagged"); strings.Contains(mout, "started") {
		t.Fatalf("minsw service logs --since an hour ahead: want nothing:\n%s", mout)
	}
	if mout, code := d.minsw("service", "logs", "--since", "yesterday-ish", "tagged"); code == 0 || !strings.Contains(mout, `invalid value for --since "yesterday-ish"`) {
		t.Fatalf("a bad --since: exit %d\n%s", code, mout)
	}
	d.ok("service", "rm", "tagged")

	// A follower that hangs up leaves the daemon serving. It hangs up once
	// it has shown both tasks' lines (at 2 s, a loaded machine had not
	// always started docker and its stream by then).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	cmd := exec.CommandContext(ctx, "docker", "service", "logs", "-f", "web")
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+d.dockerSock())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var fout strings.Builder
	for sc := bufio.NewScanner(stdout); strings.Count(fout.String(), "started web.") < 2 && sc.Scan(); {
		fout.WriteString(sc.Text() + "\n")
	}
	cancel()
	_ = cmd.Wait()
	if strings.Count(fout.String(), "started web.") != 2 {
		t.Fatalf("follow: want both tasks' lines before the hang-up:\n%s", fout.String())
	}

	secret := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(secret, []byte("hunter2"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.ok("secret", "create", "--label", "team=a", "pw", secret)
	out = d.ok("secret", "ls")
	matches(t, out, `(?m)^ID\s+NAME\s+DRIVER\s+CREATED\s+UPDATED$`, `(?m)^[a-z0-9]{25}\s+pw\s+`)
	out = d.ok("secret", "inspect", "--format", "{{.Spec.Name}} {{.Spec.Labels}} {{.Spec.Data}}", "pw")
	contains(t, out, "pw map[team:a] []")
	d.ok("service", "update", "--detach", "--secret-add", "pw", "web")
	out = d.ok("service", "inspect", "--format", "{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{.SecretName}}:{{.File.Name}}{{end}}", "web")
	contains(t, out, "pw:pw")
	out = d.fails("secret", "rm", "pw")
	contains(t, out, "pw")
	d.ok("service", "rm", "web")
	d.ok("secret", "rm", "pw")
	if out := d.ok("secret", "ls", "-q"); strings.TrimSpace(out) != "" {
		t.Fatalf("secret ls after rm: %q", out)
	}

	// Configs are served by the same handlers with their own types: their
	// data is shown, unlike a secret's.
	d.ok("config", "create", "--label", "team=b", "app.conf", secret)
	d.ok("config", "create", "other.conf", secret)
	out = d.ok("config", "ls", "--filter", "label=team=b", "--format", "{{.Name}}")
	if strings.TrimSpace(out) != "app.conf" {
		t.Fatalf("config ls --filter label=team=b: %q", out)
	}
	out = d.ok("config", "inspect", "--format", "{{.Spec.Name}} {{.Spec.Labels}} {{printf \"%s\" .Spec.Data}}", "app.conf")
	contains(t, out, "app.conf map[team:b] hunter2")
	out = d.fails("config", "create", "app.conf", secret)
	contains(t, out, "app.conf")
	d.ok("config", "rm", "app.conf", "other.conf")
	if out := d.ok("config", "ls", "-q"); strings.TrimSpace(out) != "" {
		t.Fatalf("config ls after rm: %q", out)
	}
}

const stackCompose = `services:
  web:
    image: containous/whoami
    deploy:
      replicas: 2
    networks: [front]
    secrets: [pw]
  client:
    image: xiaopeng163/net-box
    command: ["ping", "8.8.8.8"]
    networks: [front]
networks:
  front:
    driver: overlay
secrets:
  pw:
    file: ./pw.txt
`

func TestDockerStack(t *testing.T) {
	d := startDaemon(t, "swarm-manager")
	d.initSwarm()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "compose.yml"), []byte(stackCompose), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pw.txt"), []byte("hunter2"), 0o600); err != nil {
		t.Fatal(err)
	}
	compose := filepath.Join(dir, "compose.yml")
	out := d.ok("stack", "deploy", "--resolve-image", "never", "-c", compose, "demo")
	contains(t, out, "Creating network demo_front", "Creating secret demo_pw", "Creating service demo_web", "Creating service demo_client")
	out = d.ok("stack", "ls")
	matches(t, out, `(?m)^NAME\s+SERVICES$`, `(?m)^demo\s+2$`)
	eventually(t, 30*time.Second, func() string {
		out := d.ok("stack", "services", "demo")
		if !regexp.MustCompile(`(?m)^[a-z0-9]{12}\s+demo_web\s+replicated\s+2/2\s+containous/whoami:latest`).MatchString(out) ||
			!regexp.MustCompile(`(?m)^[a-z0-9]{12}\s+demo_client\s+replicated\s+1/1\s+xiaopeng163/net-box:latest`).MatchString(out) {
			return "stack services did not converge:\n" + out
		}
		return ""
	})
	out = d.ok("stack", "ps", "demo")
	matches(t, out, `demo_web\.1\s+containous/whoami:latest\s+swarm-manager\s+Running`, `demo_client\.1\s+xiaopeng163/net-box:latest\s+swarm-manager\s+Running`)
	out = d.ok("network", "ls", "--filter", "label=com.docker.stack.namespace=demo")
	matches(t, out, `(?m)^[a-z0-9]{12}\s+demo_front\s+overlay\s+swarm$`)
	out = d.ok("service", "inspect", "--format", "{{index .Spec.Labels \"com.docker.stack.namespace\"}} {{range .Spec.TaskTemplate.Networks}}{{.Aliases}}{{end}}", "demo_web")
	contains(t, out, "demo [web]")

	// A second deploy updates the services in place (with their versions).
	out = d.ok("stack", "deploy", "--resolve-image", "never", "-c", compose, "demo")
	contains(t, out, "Updating service demo_web", "Updating service demo_client")

	out = d.ok("stack", "rm", "demo")
	contains(t, out, "Removing service demo_web", "Removing service demo_client", "Removing secret demo_pw", "Removing network demo_front")
	out = d.ok("stack", "ls")
	if strings.Contains(out, "demo") {
		t.Fatalf("stack ls after rm:\n%s", out)
	}
	for _, what := range [][]string{{"service", "ls", "-q"}, {"secret", "ls", "-q"}, {"network", "ls", "-q", "--filter", "label=com.docker.stack.namespace"}} {
		if out := d.ok(what...); strings.TrimSpace(out) != "" {
			t.Fatalf("%s left after stack rm: %q", what[0], out)
		}
	}
}

func TestPythonDockerSDK(t *testing.T) {
	d := startDaemon(t, "swarm-manager")
	d.initSwarm()
	script := `
import docker, time
c = docker.DockerClient(base_url="unix://` + d.dockerSock() + `")
s = c.services.create("containous/whoami", name="py", mode=docker.types.ServiceMode("replicated", replicas=1))
print("listed", sorted(x.name for x in c.services.list()))
def running(n):
    deadline = time.time() + 30
    while time.time() < deadline:
        r = [t for t in s.tasks() if t["Status"]["State"] == "running" and t["DesiredState"] == "running"]
        if len(r) == n:
            return r
        time.sleep(0.2)
    return r
running(1)
# The manager records the rollout on the service after create (its version
# moves on): read it again before writing, as docker's optimistic updates want.
s.reload()
s.scale(3)
running = running(3)
s.reload()
print("replicas", s.attrs["Spec"]["Mode"]["Replicated"]["Replicas"], "running", len(running))
s.remove()
print("after rm", [x.name for x in c.services.list()])
try:
    c.services.get("py")
except docker.errors.NotFound as e:
    print("not found:", e.explanation)
`
	out, err := exec.Command("python3", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("python docker SDK: %v\n%s", err, out)
	}
	contains(t, string(out), "listed ['py']", "replicas 3 running 3", "after rm []", "not found:")
}

func TestWorkerAskedAManagerCall(t *testing.T) {
	m := startDaemon(t, "swarm-manager")
	w := startDaemon(t, "swarm-worker1")
	m.initSwarm()
	token := strings.TrimSpace(m.ok("swarm", "join-token", "-q", "worker"))
	out := w.ok("swarm", "join", "--token", token, "--advertise-addr", "127.0.0.1", "--listen-addr", w.listen, m.listen)
	contains(t, out, "This node joined a swarm as a worker.")
	eventually(t, 30*time.Second, func() string {
		if out := m.ok("node", "ls"); !regexp.MustCompile(`swarm-worker1\s+Ready\s+Active`).MatchString(out) {
			return "worker not ready:\n" + out
		}
		return ""
	})
	out = w.fails("service", "ls")
	contains(t, out, "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state.")
	status, body := w.call("GET", "/v1.47/services", nil)
	if status != 503 {
		t.Fatalf("worker GET /services: %d %s, want 503", status, body)
	}
	out = w.ok("info")
	contains(t, out, "Swarm: active", "Is Manager: false")
	out = m.ok("node", "ls")
	matches(t, out, `(?m)^[a-z0-9]{25}\s+swarm-worker1\s+Ready\s+Active\s+0\.1\.0$`)
	if out := w.ok("network", "ls"); strings.Contains(out, "Error") {
		t.Fatalf("network ls on a worker: %s", out)
	}
	// A worker's docker events shows its own containers, not the cluster's.
	m.ok("service", "create", "--detach", "--mode", "global", "--name", "everywhere", "--no-resolve-image", "busybox", "sleep", "1000")
	eventually(t, 30*time.Second, func() string {
		out := w.ok("events", "--since", "10m", "--until", "0s", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}")
		if !regexp.MustCompile(`(?m)^container start everywhere\.`).MatchString(out) {
			return "worker's events lack its container's start:\n" + out
		}
		if strings.Contains(out, "service ") {
			return "a worker showed the cluster's service events:\n" + out
		}
		return ""
	})
}

func TestDockerContainersOfThisNode(t *testing.T) {
	d := startDaemon(t, "swarm-manager")
	d.initSwarm()
	d.ok("service", "create", "--detach", "--name", "client", "--no-resolve-image", "xiaopeng163/net-box", "ping", "8.8.8.8")
	var id string
	eventually(t, 30*time.Second, func() string {
		id = strings.TrimSpace(d.ok("container", "ls", "-q"))
		if id == "" {
			return "no container listed"
		}
		return ""
	})
	out := d.ok("container", "ls")
	matches(t, out, `(?m)^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$`,
		`(?m)^[0-9a-f]{12}\s+xiaopeng163/net-box:latest\s+"ping 8\.8\.8\.8"\s+.+ ago\s+Up .+client\.1\.[a-z0-9]{25}$`)
	out = d.ok("container", "ls", "--filter", "label=com.docker.swarm.service.name=nosuch", "-q")
	if strings.TrimSpace(out) != "" {
		t.Fatalf("label filter kept %q", out)
	}
	out = d.ok("container", "inspect", "--format", "{{.Name}} {{.State.Status}} {{.Path}} {{.Args}}", id)
	matches(t, out, `^/client\.1\.[a-z0-9]{25} running ping \[8\.8\.8\.8\]`)
	out = d.ok("container", "logs", id)
	matches(t, out, `started client\.1\.[a-z0-9]{25}`)

	// The in-memory executor echoes the command, and "exit N" exits N.
	out = d.ok("container", "exec", id, "echo", "hello")
	contains(t, out, "echo hello")
	out, code := d.docker("container", "exec", id, "exit", "3")
	if code != 3 {
		t.Fatalf("exec exit 3: exit code %d\n%s", code, out)
	}
	cmd := exec.Command("docker", "container", "exec", "-i", id, "cat")
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+d.dockerSock())
	cmd.Stdin = strings.NewReader("typed\n")
	if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), "cat") {
		t.Fatalf("exec -i: %v\n%s", err, b)
	}
	out = d.fails("container", "exec", "nosuch", "ls")
	contains(t, out, "No such container: nosuch")
	out = d.fails("run", "busybox")
	contains(t, out, "minsw runs containers only as swarm tasks")
	if status, body := d.call("GET", "/_ping", nil); status != 200 {
		t.Fatalf("daemon down after exec: %d %s", status, body)
	}
}

func TestDockerEvents(t *testing.T) {
	d := startDaemon(t, "swarm-manager")
	d.initSwarm()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "events", "--filter", "type=service", "--filter", "type=network", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}")
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+d.dockerSock())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		b := make([]byte, 64<<10)
		var acc string
		for {
			n, err := out.Read(b)
			acc += string(b[:n])
			for {
				i := strings.IndexByte(acc, '\n')
				if i < 0 {
					break
				}
				lines <- acc[:i]
				acc = acc[i+1:]
			}
			if err != nil {
				close(lines)
				return
			}
		}
	}()
	// The watch is open once a change made now shows up.
	var seen []string
	eventually(t, 30*time.Second, func() string {
		d.ok("network", "create", "-d", "overlay", fmt.Sprintf("probe%d", time.Now().UnixNano()))
		select {
		case l := <-lines:
			seen = append(seen, l)
			return ""
		case <-time.After(time.Second):
			return "docker events showed nothing"
		}
	})
	d.ok("service", "create", "--detach", "--name", "evweb", "--no-resolve-image", "containous/whoami")
	d.ok("service", "rm", "evweb")
	want := []string{"service create evweb", "service remove evweb"}
	deadline := time.After(30 * time.Second)
	for len(want) > 0 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("docker events ended; saw %q", seen)
			}
			seen = append(seen, l)
			if l == want[0] {
				want = want[1:]
			}
		case <-deadline:
			t.Fatalf("docker events did not show %q; saw %q", want, seen)
		}
	}
	if !strings.HasPrefix(seen[0], "network create probe") {
		t.Fatalf("first event %q", seen[0])
	}
	cancel()
	_ = cmd.Wait()
	// A watcher that hung up leaves the daemon answering.
	if status, body := d.call("GET", "/_ping", nil); status != 200 {
		t.Fatalf("ping after events: %d %s", status, body)
	}
	// The daemon keeps its recent events: --since replays them.
	out2 := d.ok("events", "--since", "10m", "--until", "0s", "--filter", "service=evweb", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}")
	if !strings.Contains(out2, "service create evweb") || !strings.Contains(out2, "service remove evweb") || strings.Contains(out2, "network") {
		t.Fatalf("docker events --since 10m --until 0s --filter service=evweb:\n%s", out2)
	}
}
