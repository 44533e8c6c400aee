package node_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// This test runs what a Swarm user runs: three `minsw daemon` processes
// (one manager, two workers; in-memory executor, loopback TCP and unix
// sockets) driven through the built CLI, checking the tables they print.

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "minsw-it-")
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
	extra  []string // more daemon flags (later ones win: --executor containerd)
	cmd    *exec.Cmd
	gossip string // the daemon's own gossip port, kept across restarts
}

func freePort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startDaemon(t testing.TB, name, dir, listen string) *daemon {
	t.Helper()
	return startDaemonWith(t, name, dir, listen)
}

// steadyRaft is for the daemons of a swarm of several managers: raft at
// three times the default timings (1.5 s heartbeat, 1.2 s lease). With
// the default 400 ms lease, two or three managers on a machine at load
// 15-20 lose their leader mid-test, and the CLI's writes come back "may or
// may not have been applied" or "no leader", which the tests are not about
// (the same cause as the manager package's tests, see its fastRaft).
var steadyRaft = []string{"--raft-heartbeat", "1500ms"}

// startDaemonWith is startDaemon with more daemon flags.
func startDaemonWith(t testing.TB, name, dir, listen string, extra ...string) *daemon {
	t.Helper()
	d := &daemon{t: t, name: name, dir: dir, listen: listen, extra: extra}
	d.start()
	t.Cleanup(d.kill)
	return d
}

func (d *daemon) sock() string { return filepath.Join(d.dir, "run", "minsw.sock") }

func (d *daemon) start() {
	d.t.Helper()
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		d.t.Fatal(err)
	}
	logf, err := os.OpenFile(filepath.Join(d.dir, "daemon.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		d.t.Fatal(err)
	}
	// 1 s heartbeats: a node silent for 3 s is down. 300 ms (a 900 ms
	// grace, each heartbeat call bounded by 300 ms) let a loaded machine
	// mark a live node down, and its tasks were started again elsewhere.
	d.cmd = exec.Command(binPath, "daemon", "--executor", "fake", "--node-name", d.name,
		"--data-root", filepath.Join(d.dir, "data"), "--exec-root", filepath.Join(d.dir, "run"),
		"--listen-addr", d.listen, "--heartbeat-period", "1s", "--log-level", "warn")
	// Each daemon gossips on a free port of its own: two daemons (or two
	// tests) on 127.0.0.1 would otherwise both want 7946.
	if d.gossip == "" {
		_, d.gossip, _ = net.SplitHostPort(freePort(d.t))
	}
	d.cmd.Args = append(d.cmd.Args, "--gossip-port", d.gossip)
	d.cmd.Args = append(d.cmd.Args, d.extra...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("unix", d.sock()); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("daemon %s did not open its socket", d.name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill ends the daemon we started, by its PID.
func (d *daemon) kill() {
	if d.cmd != nil && d.cmd.Process != nil {
		_ = d.cmd.Process.Signal(syscall.SIGKILL)
		_ = d.cmd.Wait()
		d.cmd = nil
	}
}

// stop ends the daemon gracefully (SIGTERM), as a restart would.
func (d *daemon) stop() {
	if d.cmd != nil && d.cmd.Process != nil {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		_ = d.cmd.Wait()
		d.cmd = nil
	}
}

// minsw runs the CLI against d and returns stdout+stderr and the exit code.
func (d *daemon) minsw(args ...string) (string, int) {
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(os.Environ(), "MINSW_HOST=unix://"+d.sock(), "MINSW_VERIFY_SECONDS=0")
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		d.t.Fatalf("running minsw %v: %v", args, err)
	}
	return string(out), code
}

func (d *daemon) ok(args ...string) string {
	d.t.Helper()
	out, code := d.minsw(args...)
	if code != 0 {
		d.t.Fatalf("minsw %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
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
			t.Fatalf("after %v: %s", within, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rows returns the table rows (without the header) whose text matches re.
func rows(table, re string) []string {
	var out []string
	r := regexp.MustCompile(re)
	for _, l := range strings.Split(strings.TrimSpace(table), "\n")[1:] {
		if r.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

func TestThreeNodeSwarmThroughTheCLI(t *testing.T) {
	base := t.TempDir()
	mgr := startDaemon(t, "swarm-manager", filepath.Join(base, "m"), freePort(t))
	w1 := startDaemon(t, "swarm-worker1", filepath.Join(base, "w1"), freePort(t))
	w2 := startDaemon(t, "swarm-worker2", filepath.Join(base, "w2"), freePort(t))

	out := mgr.ok("swarm", "init", "--advertise-addr", "127.0.0.1")
	m := regexp.MustCompile(`minsw swarm join --token (SWMTKN-1-\S+) (\S+)`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "is now a manager") {
		t.Fatalf("swarm init printed:\n%s", out)
	}
	token, addr := m[1], m[2]
	if addr != mgr.listen {
		t.Fatalf("join line names %s, manager listens on %s", addr, mgr.listen)
	}
	// A wrong token is refused with the reason; the right one joins.
	if out, code := w1.minsw("swarm", "join", "--token", token[:len(token)-3]+"zzz", addr); code != 1 || !strings.Contains(out, "invalid join token") {
		t.Fatalf("wrong token: exit %d\n%s", code, out)
	}
	for _, w := range []*daemon{w1, w2} {
		if out := w.ok("swarm", "join", "--token", token, addr); !strings.Contains(out, "This node joined a swarm as a worker.") {
			t.Fatalf("join printed %q", out)
		}
	}
	eventually(t, 10*time.Second, func() string {
		out := mgr.ok("node", "ls")
		if len(rows(out, `Ready\s+Active`)) != 3 || len(rows(out, `\*\s+swarm-manager\s+Ready\s+Active\s+Leader`)) != 1 {
			return "node ls:\n" + out
		}
		return ""
	})
	if out, code := w1.minsw("node", "ls"); code != 1 || !strings.Contains(out, "This node is not a swarm manager") {
		t.Fatalf("node ls on a worker: exit %d\n%s", code, out)
	}

	mgr.ok("network", "create", "-d", "overlay", "mynet")
	out = mgr.ok("network", "ls")
	if len(rows(out, `\singress\s+overlay\s+swarm`)) != 1 || len(rows(out, `\smynet\s+overlay\s+swarm`)) != 1 {
		t.Fatalf("network ls:\n%s", out)
	}
	out = mgr.ok("service", "create", "--name", "web", "--network", "mynet", "--replicas", "2", "containous/whoami")
	for _, want := range []string{"overall progress: 2 out of 2 tasks", "1/2: running", "2/2: running", "verify: Service converged"} {
		if !strings.Contains(out, want) {
			t.Fatalf("service create output lacks %q:\n%s", want, out)
		}
	}
	out = mgr.ok("service", "ls")
	if len(rows(out, `^\w{12}\s+web\s+replicated\s+2/2\s+containous/whoami:latest`)) != 1 {
		t.Fatalf("service ls:\n%s", out)
	}
	out = mgr.ok("service", "ps", "web")
	running := rows(out, `web\.[12]\s+containous/whoami:latest\s+swarm-\S+\s+Running\s+Running`)
	if len(running) != 2 {
		t.Fatalf("service ps web:\n%s", out)
	}
	nodeOf := func(row string) string { return strings.Fields(row)[3] }
	if nodeOf(running[0]) == nodeOf(running[1]) {
		t.Fatalf("both replicas on %s:\n%s", nodeOf(running[0]), out)
	}

	// service logs gathers each task's output from the node running it,
	// prefixed as docker's; -f follows until ctrl-C.
	out = mgr.ok("service", "logs", "web")
	logLine := regexp.MustCompile(`(?m)^web\.([12])\.\w{12}@(swarm-\S+)    \| started web\.[12]\.\w{25}$`)
	if got := logLine.FindAllStringSubmatch(out, -1); len(got) != 2 || got[0][2] == got[1][2] || strings.Count(out, "\n") != 2 {
		t.Fatalf("service logs web:\n%s", out)
	}
	followServiceLogs(t, mgr, logLine)

	// Bad input: exit 1, one clear line, nothing made.
	bad := []struct {
		args []string
		want string
	}{
		{[]string{"service", "create", "--name", "bad name", "busybox"}, "invalid service name"},
		{[]string{"service", "create", "--name", "web", "busybox"}, "already exists"},
		{[]string{"service", "create", "--name", "x", "--network", "nonet", "busybox"}, "network nonet not found"},
		{[]string{"service", "create", "--name", "x", "--mode", "global", "--replicas", "2", "busybox"}, "replicas"},
		{[]string{"service", "create", "--name", "x", "--constraint", "node.colour==red", "busybox"}, "constraint"},
		{[]string{"service", "create", "--name", "x", "--replicas", "-1", "busybox"}, "replicas"},
		{[]string{"network", "create", "-d", "overlay", "--subnet", "10.0.1.0/24", "clash"}, "overlaps with network mynet"},
		{[]string{"network", "create", "-d", "overlay", "--subnet", "10.0.300.0/24", "bad"}, "invalid subnet"},
		{[]string{"network", "rm", "mynet"}, "in use by service web"},
		{[]string{"service", "scale", "nosuch=2"}, "service nosuch not found"},
		{[]string{"node", "demote", "swarm-manager"}, "last manager"},
	}
	for _, b := range bad {
		out, code := mgr.minsw(b.args...)
		if code != 1 || !strings.Contains(out, b.want) {
			t.Errorf("minsw %s: exit %d, want 1 with %q:\n%s", strings.Join(b.args, " "), code, b.want, out)
		}
	}
	out = mgr.ok("service", "ls")
	if n := len(rows(out, `.`)); n != 1 {
		t.Fatalf("refused creates left services behind:\n%s", out)
	}

	// Scale up, then drain a worker: its tasks move to the others.
	mgr.ok("service", "scale", "web=5")
	eventually(t, 10*time.Second, func() string {
		if out := mgr.ok("service", "ls"); len(rows(out, `web\s+replicated\s+5/5`)) != 1 {
			return "after scale:\n" + out
		}
		return ""
	})
	mgr.ok("node", "update", "--availability", "drain", "swarm-worker1")
	eventually(t, 15*time.Second, func() string {
		out := mgr.ok("service", "ps", "web")
		if len(rows(out, `swarm-worker1\s+Running`)) != 0 || len(rows(out, `Running\s+Running`)) != 5 {
			return "after drain:\n" + out
		}
		return ""
	})
	mgr.ok("node", "update", "--availability", "active", "swarm-worker1")

	// A worker dies: it is marked down and its tasks are rescheduled.
	w2.kill()
	start := time.Now()
	eventually(t, 20*time.Second, func() string {
		if out := mgr.ok("node", "ls"); len(rows(out, `swarm-worker2\s+Down`)) != 1 {
			return "node ls after killing worker2:\n" + out
		}
		out := mgr.ok("service", "ps", "web")
		if len(rows(out, `Running\s+Running`)) != 5 || len(rows(out, `swarm-worker2\s+Running\s+Running`)) != 0 {
			return "service ps after killing worker2:\n" + out
		}
		return ""
	})
	t.Logf("worker killed -> node down and 5 tasks running elsewhere after %v", time.Since(start))

	// The manager restarts: the swarm is still there.
	mgr.stop()
	mgr.start()
	eventually(t, 15*time.Second, func() string {
		out, code := mgr.minsw("service", "ls")
		if code != 0 || len(rows(out, `web\s+replicated\s+5/5`)) != 1 {
			return "service ls after manager restart:\n" + out
		}
		return ""
	})
	out = mgr.ok("network", "ls")
	if len(rows(out, `mynet\s+overlay\s+swarm`)) != 1 {
		t.Fatalf("network ls after restart:\n%s", out)
	}

	// Promote a worker: raft grows to two managers; demote it again.
	mgr.ok("node", "promote", "swarm-worker1")
	eventually(t, 15*time.Second, func() string {
		if out := mgr.ok("node", "ls"); len(rows(out, `swarm-worker1\s+Ready\s+Active\s+Reachable`)) != 1 {
			return "node ls after promote:\n" + out
		}
		if out, code := w1.minsw("service", "ls"); code != 0 || !strings.Contains(out, "web") {
			return "the promoted node does not serve the manager API:\n" + out
		}
		return ""
	})
	// Through the new manager (a follower): the lines of the tasks on live
	// nodes, and why those on the dead worker cannot be read.
	// Which slots ran on the live nodes depends on placement: any slot's
	// line will do.
	anyLine := regexp.MustCompile(`(?m)^web\.\d+\.\w{12}@(swarm-\S+)\s+\| started web\.\d+\.\w{25}$`)
	out, code := w1.minsw("service", "logs", "--tail", "1", "web")
	if code != 1 || len(anyLine.FindAllString(out, -1)) == 0 || !strings.Contains(out, "node swarm-worker2 is down: its logs cannot be read") {
		t.Fatalf("service logs through a follower: exit %d\n%s", code, out)
	}
	// The promoted manager restarts: the leader sees it reachable again.
	w1.stop()
	w1.start()
	eventually(t, 20*time.Second, func() string {
		// Two managers have no quorum while one restarts: until it is back
		// and a leader is elected, node ls may say there is no leader.
		if out, code := mgr.minsw("node", "ls"); code != 0 || len(rows(out, `swarm-worker1\s+Ready\s+Active\s+Reachable`)) != 1 {
			return "node ls after the promoted manager restarted:\n" + out
		}
		return ""
	})
	mgr.ok("node", "demote", "swarm-worker1")
	eventually(t, 15*time.Second, func() string {
		out := mgr.ok("node", "ls")
		if len(rows(out, `swarm-worker1\s+Ready\s+Active\s+\d`)) != 1 {
			return "node ls after demote:\n" + out
		}
		return ""
	})

	mgr.ok("service", "rm", "web")
	eventually(t, 10*time.Second, func() string {
		if out, _ := mgr.minsw("service", "ps", "web"); !strings.Contains(out, "not found") && len(rows(out, `web\.`)) != 0 {
			return "tasks remain after service rm:\n" + out
		}
		return ""
	})
	// The network can go once the tasks on it have stopped.
	eventually(t, 10*time.Second, func() string {
		if out, code := mgr.minsw("network", "rm", "mynet"); code != 0 {
			return "network rm:\n" + out
		}
		return ""
	})
	if out := mgr.ok("network", "ls"); len(rows(out, `mynet`)) != 0 {
		t.Fatalf("mynet still listed:\n%s", out)
	}
}

// followServiceLogs runs `service logs -f` until it has printed a line of
// each task, then sends it ctrl-C: it must end at once, with status 0.
func followServiceLogs(t *testing.T, d *daemon, line *regexp.Regexp) {
	t.Helper()
	cmd := exec.Command(binPath, "service", "logs", "-f", "web")
	cmd.Env = append(os.Environ(), "MINSW_HOST=unix://"+d.sock())
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { err := cmd.Wait(); pw.Close(); waited <- err }()
	exited := false
	defer func() {
		if !exited {
			_ = cmd.Process.Kill()
			<-waited
		}
	}()
	sc := bufio.NewScanner(pr)
	for seen := 0; seen < 2; seen++ {
		if !sc.Scan() || !line.MatchString(sc.Text()) {
			t.Fatalf("service logs -f printed %q (%v)", sc.Text(), sc.Err())
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	start := time.Now()
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-waited:
		exited = true
		if err != nil {
			t.Fatalf("service logs -f after ctrl-C: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("service logs -f still running 5 s after ctrl-C")
	}
	t.Logf("service logs -f ended %v after ctrl-C", time.Since(start))
}
