package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minsw/minsw/e2e/images"
	"github.com/minsw/minsw/e2e/lab"
)

// TestRollingUpdateLoad measures what clients see during `service update
// --image minsw/web:v1 -> v2` of a 4-replica service on the three-node lab:
// four bounded load loops (20 s each, at most 20000 requests, 2 s per
// request) run while the update rolls the tasks over: through the service's
// VIP from a client container and through the routing mesh from outside the
// swarm (the registry's namespace to the manager's published port), each
// once with a new connection per request and once over keep-alive
// connections (curl reusing one connection for 25 requests). It prints
// requests sent and failed for start-first and stop-first, with and without
// a health check, then how long an unhealthy task stays in the lbs. It takes
// minutes of lab time: `make lab-updates` runs it (MINSW_E2E_UPDATES=1).
func TestRollingUpdateLoad(t *testing.T) {
	if os.Getenv("MINSW_E2E_UPDATES") != "1" {
		t.Skip("a measurement of minutes: `make lab-updates` (MINSW_E2E_UPDATES=1) runs it")
	}
	if os.Geteuid() != 0 {
		t.Fatal("the lab needs root")
	}
	l := startLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	m := l.Manager()
	must := func(args ...string) string {
		t.Helper()
		r := l.CLI(ctx, m, 2*time.Minute, args...)
		if !r.OK() {
			t.Fatalf("minsw %s: exit %d\n%s", strings.Join(args, " "), r.Code, r.Out)
		}
		return r.Out
	}
	must("network", "create", "-d", "overlay", "mynet")
	must("service", "create", "--name", "client", "--network", "mynet", images.NetBox, "sleep", "100000")
	clientNode, clientCtr := findContainer(ctx, t, l, "client.1.")

	// minsw/web is whoami (keep-alive, graceful stop) with busybox for the
	// check. The probe service's check fails once /tmp/broken exists.
	check := []string{"--health-cmd", "test ! -e /tmp/broken && wget -q -O /dev/null http://127.0.0.1/",
		"--health-interval", "500ms", "--health-retries", "2", "--health-start-interval", "200ms", "--health-start-period", "10s"}
	cases := []struct {
		name   string
		port   int
		order  string
		health bool
	}{
		{"start-first, health-checked", 8081, "start-first", true},
		{"stop-first, health-checked", 8082, "stop-first", true},
		{"start-first, no health check", 8083, "start-first", false},
		{"stop-first, no health check", 8084, "stop-first", false},
	}
	table := []string{fmt.Sprintf("| %-30s | %-22s | %-22s | %-22s | %-22s | %-7s |", "4 replicas, parallelism 1",
		"VIP, new connections", "VIP, keep-alive", "mesh, new connections", "mesh, keep-alive", "update")}
	cell := func(r loadResult) string { return fmt.Sprintf("%5d sent, %3d failed", r.sent, r.failed) }
	for i, c := range cases {
		svc := fmt.Sprintf("web%d", i+1)
		args := []string{"service", "create", "--name", svc, "--network", "mynet", "--replicas", "4",
			"-p", fmt.Sprintf("%d:80", c.port), "--update-order", c.order, "--update-parallelism", "1",
			"--stop-grace-period", "3s"}
		if c.health {
			args = append(args, check...)
		}
		must(append(args, images.WebV1)...)

		vipURL, meshURL := "http://"+svc+"/", fmt.Sprintf("http://%s:%d/", m.IP, c.port)
		exec := []string{l.Minsw, "container", "exec", clientCtr}
		loops := []struct {
			n         lab.Node
			prefix    []string
			url       string
			keepAlive bool
		}{
			{clientNode, exec, vipURL, false}, {clientNode, exec, vipURL, true},
			{l.Registry, nil, meshURL, false}, {l.Registry, nil, meshURL, true},
		}
		res := make([]loadResult, len(loops))
		var wg sync.WaitGroup
		for j, lp := range loops {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res[j] = loadLoop(ctx, l, lp.n, lp.prefix, lp.url, lp.keepAlive)
			}()
		}
		time.Sleep(2 * time.Second) // the loops are under way
		t0 := time.Now()
		up := l.CLI(ctx, m, 3*time.Minute, "service", "update", "--image", images.WebV2, svc)
		took := time.Since(t0)
		wg.Wait()
		if !up.OK() {
			t.Errorf("%s: update: exit %d\n%s", c.name, up.Code, up.Out)
		}
		if img := strings.TrimSpace(must("service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", svc)); !strings.HasPrefix(img, images.WebV2) {
			t.Errorf("%s: after the update the service runs %q", c.name, img)
		}
		line := fmt.Sprintf("| %-30s | %s | %s | %s | %s | %5.1f s |", c.name, cell(res[0]), cell(res[1]), cell(res[2]), cell(res[3]), took.Seconds())
		t.Log(line)
		table = append(table, line)
		for j, r := range res {
			if r.sent == 0 {
				t.Errorf("%s: load loop %d sent nothing (%+v)", c.name, j, r)
			}
		}
		must("service", "rm", svc)
	}
	t.Log("rolling update --image minsw/web:v1 -> v2, 20 s load loops (requests failing to get a 200 within 2 s):\n" +
		strings.Join(table, "\n"))

	// An unhealthy task leaves every node's lb: break one task's check and
	// time until no lb takes new connections to it.
	must(append(append([]string{"service", "create", "--name", "probe", "--network", "mynet", "--replicas", "2",
		"--restart-delay", "60s"}, check...), images.WebV1)...)
	vip := vips(ctx, t, l, "probe")
	if len(vip) != 1 {
		t.Fatalf("probe VIPs %v", vip)
	}
	// Each node is polled on its own, so a slow CLI call on one does not
	// hide when another dropped the task.
	served := func(n lab.Node) int {
		r := l.CLI(ctx, n, 10*time.Second, "lb", "inspect", "mynet")
		if !strings.Contains(r.Out, vip[0]) {
			return -1
		}
		return backendsOf(r.Out, vip[0])
	}
	// The nodes with an lb on mynet (a node with no task there has none).
	var lbNodes []lab.Node
	deadline := time.Now().Add(60 * time.Second)
	for {
		lbNodes = lbNodes[:0]
		all := true
		for _, n := range l.Nodes {
			switch served(n) {
			case -1:
			case 2:
				lbNodes = append(lbNodes, n)
			default:
				all = false
			}
		}
		if all && len(lbNodes) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("probe never had 2 backends in every lb")
		}
		time.Sleep(200 * time.Millisecond)
	}
	pn, pc := findContainer(ctx, t, l, "probe.1.")
	t0 := time.Now()
	if r := l.CLI(ctx, pn, 10*time.Second, "container", "exec", pc, "touch", "/tmp/broken"); !r.OK() {
		t.Fatalf("breaking the check: %s", r.Out)
	}
	gone := make([]time.Duration, len(lbNodes))
	var wg sync.WaitGroup
	for i, n := range lbNodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(t0) < 30*time.Second {
				if served(n) == 1 {
					gone[i] = time.Since(t0)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	var last time.Duration
	for i, g := range gone {
		if g == 0 {
			t.Fatalf("the unhealthy task stayed in %s's lb", lbNodes[i].Name)
		}
		last = max(last, g)
	}
	verdict, confirmed, err := withdrawTimes(l.DaemonLog(pn), taskIDOf(ctx, l, pn, pc))
	if err != nil {
		t.Errorf("reading %s's daemon log: %v", pn.Name, err)
	}
	t.Logf("unhealthy task out of every node's lb (%d nodes hold one): from the unhealthy verdict to every lb's "+
		"confirmation %v (verdict %s, confirmed %s, in %s's daemon log); from the check broken to the verdict %v "+
		"(2 failed probes 500 ms apart); to every lb inspect showing it gone %.2f s (polled)",
		len(lbNodes), confirmed.Sub(verdict).Round(time.Millisecond), verdict.Format("15:04:05.000"),
		confirmed.Format("15:04:05.000"), pn.Name, verdict.Sub(t0).Round(time.Millisecond), last.Seconds())
	must("service", "rm", "probe")

	// A bad update rolls back by itself: v2's check fails at once.
	must(append(append([]string{"service", "create", "--name", "rb", "--network", "mynet", "--replicas", "4",
		"--update-failure-action", "rollback", "--update-monitor", "5s"}, check...), images.WebV1)...)
	t0 = time.Now()
	up := l.CLI(ctx, m, 3*time.Minute, "service", "update", "--image", images.WebV2,
		"--health-cmd", "false", "--health-start-period", "0s", "rb")
	state := ""
	for deadline := time.Now().Add(2 * time.Minute); state != "rollback_completed" && time.Now().Before(deadline); {
		state = strings.TrimSpace(l.CLI(ctx, m, 10*time.Second, "service", "inspect", "--format", "{{.UpdateStatus.State}}", "rb").Out)
		if state != "rollback_completed" {
			time.Sleep(100 * time.Millisecond)
		}
	}
	rolled := time.Since(t0)
	if state != "rollback_completed" || up.OK() {
		t.Errorf("bad update: state %q, update exit %d\n%s", state, up.Code, up.Out)
	}
	if img := strings.TrimSpace(must("service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", "rb")); !strings.HasPrefix(img, images.WebV1) {
		t.Errorf("after the rollback the service runs %q", img)
	}
	t.Logf("bad update (4 replicas, monitor 5 s, v2 unhealthy) to rollback_completed: %.1f s", rolled.Seconds())
	must("service", "rm", "rb")

	// An image that is not there: one rejected task per slot per restart
	// delay (5 s), counted over a minute by the task IDs service ps lists.
	must("service", "create", "--detach", "--name", "nope", "minsw/nope:v9")
	seen := map[string]bool{}
	for start := time.Now(); time.Since(start) < time.Minute; time.Sleep(2 * time.Second) {
		for _, id := range strings.Fields(l.CLI(ctx, m, 10*time.Second, "service", "ps", "-q", "nope").Out) {
			seen[id] = true
		}
	}
	errs := l.CLI(ctx, m, 10*time.Second, "service", "ps", "--no-trunc", "--format", "{{.Error}}", "nope").Out
	if !strings.Contains(errs, "No such image") {
		t.Errorf("service ps nope shows no 'No such image' error:\n%s", errs)
	}
	t.Logf("image missing: %d tasks made for the one slot in 60 s (restart delay 5 s)", len(seen))
}

// taskIDOf is the task ID of a container on n: the last part of its name
// (<service>.<slot>.<task ID>).
func taskIDOf(ctx context.Context, l *lab.Lab, n lab.Node, container string) string {
	tb := containers(ctx, l, n, true)
	for _, row := range tb.Rows {
		if tb.Col(row, "CONTAINER ID") == container {
			name := tb.Col(row, "NAMES")
			return name[strings.LastIndexByte(name, '.')+1:]
		}
	}
	return ""
}

var (
	logTime  = regexp.MustCompile(`^time=(\S+) `)
	logTask  = regexp.MustCompile(` task=(\S+)`)
	verdictR = regexp.MustCompile(`msg="task health" .*health=HEALTH_STATE_UNHEALTHY`)
)

// withdrawTimes reads from a daemon log when task was found unhealthy
// and when every lb confirmed it withdrawn.
func withdrawTimes(path, task string) (verdict, confirmed time.Time, err error) {
	f, err := os.Open(path)
	if err != nil {
		return verdict, confirmed, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		tm, tk := logTime.FindStringSubmatch(line), logTask.FindStringSubmatch(line)
		if tm == nil || tk == nil || tk[1] != task {
			continue
		}
		at, perr := time.Parse(time.RFC3339Nano, tm[1])
		if perr != nil {
			continue
		}
		switch {
		case verdictR.MatchString(line) && verdict.IsZero():
			verdict = at
		case strings.Contains(line, `msg="task withdrawn from every lb"`) && confirmed.IsZero():
			confirmed = at
		}
	}
	if verdict.IsZero() || confirmed.IsZero() {
		return verdict, confirmed, fmt.Errorf("task %s: verdict %v, confirmation %v not both found", task, verdict, confirmed)
	}
	return verdict, confirmed, sc.Err()
}

type loadResult struct{ sent, failed int }

var loadRE = regexp.MustCompile(`sent=(\d+) failed=(\d+)`)

// loadLoop runs a shell loop of curl requests for 20 s (at most 20000) on
// node n, inside a container when prefix is the exec command, and counts
// the requests that did not get a 200 within 2 s. With keepAlive, each curl
// asks 25 times over one connection (curl reuses it, and opens a new one
// when the server has closed it); without, one request per connection.
func loadLoop(ctx context.Context, l *lab.Lab, n lab.Node, prefix []string, url string, keepAlive bool) loadResult {
	batch := 1
	if keepAlive {
		batch = 25
	}
	urls := strings.TrimSpace(strings.Repeat(url+" ", batch))
	script := `i=0; f=0; end=$(( $(date +%s) + 20 )); ` +
		`while [ $(date +%s) -lt $end ] && [ $i -lt 20000 ]; do ` +
		`ok=$(curl -s -m 2 -w '\nCODE=%{http_code}\n' ` + urls + ` | grep -c '^CODE=200$'); ` +
		`i=$((i+` + strconv.Itoa(batch) + `)); f=$((f+` + strconv.Itoa(batch) + `-ok)); done; echo sent=$i failed=$f`
	argv := append(append([]string(nil), prefix...), "sh", "-c", script)
	r := l.Run(ctx, n, 90*time.Second, argv...)
	m := loadRE.FindStringSubmatch(r.Out)
	if m == nil {
		return loadResult{}
	}
	sent, _ := strconv.Atoi(m[1])
	failed, _ := strconv.Atoi(m[2])
	return loadResult{sent, failed}
}

// findContainer waits for a running container whose name starts with
// prefix on any node.
func findContainer(ctx context.Context, t *testing.T, l *lab.Lab, prefix string) (lab.Node, string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range l.Nodes {
			tb := containers(ctx, l, n, false)
			for _, row := range tb.Rows {
				if name := tb.Col(row, "NAMES"); strings.HasPrefix(name, prefix) {
					return n, tb.Col(row, "CONTAINER ID")
				}
			}
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("no running container %s*", prefix)
	return lab.Node{}, ""
}
