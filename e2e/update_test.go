package e2e

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minsw/minsw/e2e/lab"
)

// TestRollingUpdateLoad measures what clients see during a rolling update
// of a 4-replica service on the three-node lab: a bounded load loop (20 s,
// one new connection per request, at most 20000 requests) through the
// service's VIP from a client container, and one through the routing mesh
// from outside the swarm (the registry's namespace to the manager's
// published port), while `service update` rolls the tasks over. It prints
// requests sent and failed for start-first with a health check, stop-first
// with a health check, and start-first without one. It is a measurement
// (minutes of lab time), run on demand: MINSW_E2E_UPDATES=1.
func TestRollingUpdateLoad(t *testing.T) {
	if os.Getenv("MINSW_E2E_UPDATES") != "1" {
		t.Skip("a measurement of minutes: set MINSW_E2E_UPDATES=1 to run it")
	}
	if os.Geteuid() != 0 {
		t.Fatal("the lab needs root")
	}
	l := startLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
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
	must("service", "create", "--name", "client", "--network", "mynet", "xiaopeng163/net-box", "sleep", "100000")
	clientNode, clientCtr := findContainer(ctx, t, l, "client.1.")

	// The backend: busybox httpd in net-box (it has a shell for the check,
	// which the lab's whoami image has not), answering its hostname.
	serve := []string{"sh", "-c", "hostname > /tmp/index.html; exec httpd -f -p 80 -h /tmp"}
	check := []string{"--health-cmd", "wget -q -O /dev/null http://127.0.0.1/", "--health-interval", "500ms",
		"--health-retries", "2", "--health-start-interval", "200ms", "--health-start-period", "10s"}
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
	var table []string
	for i, c := range cases {
		svc := fmt.Sprintf("web%d", i+1)
		args := []string{"service", "create", "--name", svc, "--network", "mynet", "--replicas", "4",
			"-p", fmt.Sprintf("%d:80", c.port), "--update-order", c.order, "--update-parallelism", "1",
			"--stop-grace-period", "3s"}
		if c.health {
			args = append(args, check...)
		}
		must(append(append(args, "xiaopeng163/net-box"), serve...)...)

		var wg sync.WaitGroup
		var vip, mesh loadResult
		wg.Add(2)
		go func() {
			defer wg.Done()
			vip = loadLoop(ctx, l, clientNode, []string{l.Minsw, "container", "exec", clientCtr},
				"http://"+svc+"/")
		}()
		go func() {
			defer wg.Done()
			mesh = loadLoop(ctx, l, l.Registry, nil, fmt.Sprintf("http://%s:%d/", m.IP, c.port))
		}()
		time.Sleep(2 * time.Second) // the loops are under way
		t0 := time.Now()
		up := l.CLI(ctx, m, 3*time.Minute, "service", "update", "--env-add", "VERSION=2", svc)
		took := time.Since(t0)
		wg.Wait()
		if !up.OK() {
			t.Errorf("%s: update: exit %d\n%s", c.name, up.Code, up.Out)
		}
		line := fmt.Sprintf("| %-30s | VIP %5d sent %4d failed | mesh %5d sent %4d failed | update %.1fs |",
			c.name, vip.sent, vip.failed, mesh.sent, mesh.failed, took.Seconds())
		t.Log(line)
		table = append(table, line)
		if vip.sent == 0 || mesh.sent == 0 {
			t.Errorf("%s: a load loop sent nothing (vip %+v, mesh %+v)", c.name, vip, mesh)
		}
		must("service", "rm", svc)
	}
	t.Log("rolling update of 4 replicas, parallelism 1, 20 s load loops:\n" + strings.Join(table, "\n"))

	// An unhealthy task leaves every node's lb: break one task's check
	// (its page goes) and time until no lb lists it.
	must(append(append(append([]string{"service", "create", "--name", "probe", "--network", "mynet", "--replicas", "2",
		"--restart-delay", "60s"}, check...), "xiaopeng163/net-box"), serve...)...)
	vip := vips(ctx, t, l, "probe")
	if len(vip) != 1 {
		t.Fatalf("probe VIPs %v", vip)
	}
	counts := func() map[string]int {
		out := map[string]int{}
		for _, n := range l.Nodes {
			r := l.CLI(ctx, n, 10*time.Second, "lb", "inspect", "mynet")
			if strings.Contains(r.Out, vip[0]) {
				out[n.Name] = backendsOf(r.Out, vip[0])
			}
		}
		return out
	}
	deadline := time.Now().Add(30 * time.Second)
	for c := counts(); ; c = counts() {
		all := len(c) > 0
		for _, k := range c {
			all = all && k == 2
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("probe never had 2 backends everywhere: %v", c)
		}
		time.Sleep(200 * time.Millisecond)
	}
	pn, pc := findContainer(ctx, t, l, "probe.1.")
	t0 := time.Now()
	if r := l.CLI(ctx, pn, 10*time.Second, "container", "exec", pc, "rm", "/tmp/index.html"); !r.OK() {
		t.Fatalf("breaking the check: %s", r.Out)
	}
	var gone time.Duration
	for time.Since(t0) < 30*time.Second {
		c := counts()
		all := len(c) > 0
		for _, k := range c {
			all = all && k == 1
		}
		if all {
			gone = time.Since(t0)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if gone == 0 {
		t.Fatalf("the unhealthy task stayed in some lb: %v", counts())
	}
	t.Logf("unhealthy task out of every node's lb %.2fs after its check began to fail "+
		"(of which detection: 2 failed probes 500 ms apart, each up to its timeout)", gone.Seconds())
}

type loadResult struct{ sent, failed int }

var loadRE = regexp.MustCompile(`sent=(\d+) failed=(\d+)`)

// loadLoop runs a shell loop of curl requests for 20 s (at most 20000)
// on node n, inside a container when prefix is the exec command, and
// counts the requests that did not get a 200 within 2 s.
func loadLoop(ctx context.Context, l *lab.Lab, n lab.Node, prefix []string, url string) loadResult {
	script := `i=0; f=0; end=$(( $(date +%s) + 20 )); ` +
		`while [ $(date +%s) -lt $end ] && [ $i -lt 20000 ]; do i=$((i+1)); ` +
		`curl -s -f -m 2 -o /dev/null ` + url + ` || f=$((f+1)); done; echo sent=$i failed=$f`
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
