package node_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minsw/minsw/internal/testenv"
)

// TestUpdatesWithHealthChecksOnRealContainers drives a health-checked
// service through the CLI on a daemon with the containerd executor: a bad
// v2 (its check fails) with --update-failure-action rollback returns to v1
// by itself, and with pause the CLI stops with docker's message; a missing
// image is retried at the restart delay, not in a storm.
func TestUpdatesWithHealthChecksOnRealContainers(t *testing.T) {
	ctrd := testenv.NewContainerd(t)
	reg := testenv.NewRegistry(t)
	testenv.PushBusybox(t, reg, "library/busybox:latest")

	dir := filepath.Join(t.TempDir(), "n")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	d := &daemon{t: t, name: "upd-node", dir: dir, listen: freePort(t),
		extra: []string{"--executor", "containerd", "--containerd", ctrd.Address, "--registry-mirror", reg.URL}}
	d.start()
	t.Cleanup(d.kill)
	d.ok("swarm", "init", "--advertise-addr", "127.0.0.1")

	// v1: healthy. Its tasks run only once their check passed.
	out := d.ok("service", "create", "--name", "web", "--replicas", "4", "--stop-grace-period", "1s",
		"--health-cmd", "true", "--health-interval", "300ms", "--health-retries", "1",
		"--update-failure-action", "rollback", "--update-monitor", "5s", "busybox", "sleep", "3600")
	if !strings.Contains(out, "verify: Service converged") {
		t.Fatalf("service create:\n%s", out)
	}
	eventually(t, 10*time.Second, func() string {
		if out := d.ok("container", "ls"); len(rows(out, `Up .* \(healthy\)\s+web\.\d\.`)) != 4 {
			return "container ls:\n" + out
		}
		return ""
	})
	cid := strings.Fields(rows(d.ok("container", "ls"), `web\.1\.`)[0])[0]
	if out := d.ok("container", "inspect", cid); !strings.Contains(out, `"Status": "healthy"`) || !strings.Contains(out, `"ExitCode": 0`) {
		t.Fatalf("container inspect lacks the health log:\n%s", out)
	}

	// v2 fails its check: the update rolls back by itself.
	start := time.Now()
	out, code := d.minsw("service", "update", "--health-cmd", "false", "web")
	took := time.Since(start)
	if code == 0 || !strings.Contains(out, "rollback: update rolled back due to failure or early termination of task ") ||
		!strings.Contains(out, "service rolled back: rollback completed") {
		t.Fatalf("update to a bad v2: exit %d\n%s", code, out)
	}
	t.Logf("bad update detected and rolled back (4 replicas, monitor 5s): %.1fs", took.Seconds())
	out = d.ok("service", "inspect", "--pretty", "web")
	if !regexp.MustCompile(`UpdateStatus:\n State:\s+rollback_completed\n Started:.*\n Completed:.*\n Message:\s+rollback completed`).MatchString(out) {
		t.Fatalf("inspect after rollback:\n%s", out)
	}
	if out := d.ok("service", "inspect", "web"); !strings.Contains(out, `"CMD-SHELL",`+"\n") && !strings.Contains(out, `"true"`) {
		t.Fatalf("spec not rolled back:\n%s", out)
	}
	eventually(t, 10*time.Second, func() string {
		if out := d.ok("container", "ls"); len(rows(out, `\(healthy\)\s+web\.\d\.`)) != 4 {
			return "container ls after rollback:\n" + out
		}
		return ""
	})

	// With pause, the CLI ends non-zero with docker's message.
	out, code = d.minsw("service", "update", "--health-cmd", "false", "--update-failure-action", "pause", "web")
	if code == 0 || !strings.Contains(out, "service update paused: update paused due to failure or early termination of task ") {
		t.Fatalf("update with pause: exit %d\n%s", code, out)
	}
	if out := d.ok("service", "inspect", "--pretty", "web"); !regexp.MustCompile(`State:\s+paused`).MatchString(out) {
		t.Fatalf("inspect after pause:\n%s", out)
	}
	// The untouched slot still serves.
	if out := d.ok("container", "ls"); len(rows(out, `\(healthy\)\s+web\.\d\.`)) < 1 {
		t.Fatalf("no healthy task left while paused:\n%s", out)
	}

	// A missing image: one rejected task per restart delay (5 s), and the
	// attached CLI gives up instead of waiting forever.
	start = time.Now()
	out, code = d.minsw("service", "create", "--name", "ghost", "busybox-does-not-exist")
	if code == 0 || !strings.Contains(out, "No such image: busybox-does-not-exist") {
		t.Fatalf("create with a missing image: exit %d\n%s", code, out)
	}
	// The task history keeps 5 per slot: count every task ID ever seen.
	seen := map[string]bool{}
	for time.Since(start) < 20*time.Second {
		for _, id := range strings.Fields(d.ok("service", "ps", "-q", "ghost")) {
			seen[id] = true
		}
		time.Sleep(500 * time.Millisecond)
	}
	el := time.Since(start)
	t.Logf("missing image: %d tasks made for 1 slot in %.0fs: one every %.1fs, %.0f a minute (restart delay 5s)",
		len(seen), el.Seconds(), el.Seconds()/float64(max(len(seen)-1, 1)), float64(len(seen)-1)*60/el.Seconds())
	if len(seen) > 6 {
		t.Fatalf("%d tasks in 20 s: a retry storm", len(seen))
	}
	if !strings.Contains(d.ok("service", "ps", "--no-trunc", "ghost"), "No such image: busybox-does-not-exist") {
		t.Fatalf("service ps lacks the reason")
	}
	// Leaving removes the node's namespaces and containers.
	d.ok("swarm", "leave", "--force")
}
