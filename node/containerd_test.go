package node_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minsw/minsw/internal/testenv"
)

// TestTasksAreRealContainers runs a daemon with the containerd executor
// against a containerd and a registry the test starts, and checks what a
// user sees of tasks as containers: ls, exec, logs, a crash loop with its
// restart delay, a pull failure, adoption across a daemon restart, drain,
// and a clean containerd after leaving the swarm.
func TestTasksAreRealContainers(t *testing.T) {
	ctrd := testenv.NewContainerd(t)
	reg := testenv.NewRegistry(t)
	testenv.PushBusybox(t, reg, "library/busybox:latest")

	dir := filepath.Join(t.TempDir(), "n")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	d := &daemon{t: t, name: "ctr-node", dir: dir, listen: freePort(t),
		extra: []string{"--executor", "containerd", "--containerd", ctrd.Address, "--registry-mirror", reg.URL}}
	d.start()
	t.Cleanup(d.kill)
	d.ok("swarm", "init", "--advertise-addr", "127.0.0.1")

	out := d.ok("service", "create", "--name", "sleeper", "busybox", "sleep", "3600")
	if !strings.Contains(out, "verify: Service converged") {
		t.Fatalf("service create:\n%s", out)
	}
	out = d.ok("container", "ls")
	ls := rows(out, `busybox:latest\s+"sleep 3600"\s+.*Up .*sleeper\.1\.\w{25}`)
	if len(ls) != 1 {
		t.Fatalf("container ls:\n%s", out)
	}
	cid := strings.Fields(ls[0])[0]
	if out := d.ok("container", "exec", cid[:4], "echo", "hello from", "inside"); strings.TrimSpace(out) != "hello from inside" {
		t.Fatalf("exec printed %q", out)
	}
	if out, code := d.minsw("container", "exec", cid, "sh", "-c", "exit 7"); code != 7 {
		t.Fatalf("exec exit status: %d (%s)", code, out)
	}
	// -it through a real terminal (util-linux script gives the CLI a pty):
	// the process sees a tty and its exit status comes back.
	sh := exec.Command("script", "-qec", binPath+" container exec -it "+cid+" sh -c 'tty; exit 5'", "/dev/null")
	sh.Env = append(os.Environ(), "MINSW_HOST=unix://"+d.sock())
	ttyOut, err := sh.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 5 || !strings.Contains(string(ttyOut), "/dev/pts/") {
		t.Fatalf("exec -it: %v\n%s", err, ttyOut)
	}
	if out := d.ok("container", "exec", cid, "hostname"); strings.TrimSpace(out) != cid {
		t.Fatalf("hostname %q, want the container id %s", out, cid)
	}

	// A task that crashes is restarted after its delay, and ps explains why.
	d.ok("service", "create", "-d", "--name", "crash", "--restart-delay", "1s", "busybox", "sh", "-c", "echo boom; exit 3")
	eventually(t, 30*time.Second, func() string {
		out := d.ok("service", "ps", "crash")
		if len(rows(out, `crash\.1\s+busybox.*Shutdown\s+Failed .*task: non-zero exit \(3\)`)) < 2 {
			return "service ps crash:\n" + out
		}
		return ""
	})
	out = d.ok("container", "ls", "-a")
	if len(rows(out, `Exited \(3\).*crash\.1\.`)) < 2 {
		t.Fatalf("container ls -a:\n%s", out)
	}
	crashID := strings.Fields(rows(out, `Exited \(3\).*crash\.1\.`)[0])[0]
	if out := d.ok("container", "logs", crashID); strings.TrimSpace(out) != "boom" {
		t.Fatalf("logs of the crashed container: %q", out)
	}
	d.ok("service", "rm", "crash")

	// A missing image: the task is rejected with the registry's reason.
	d.ok("service", "create", "-d", "--name", "ghost", "busybox-does-not-exist")
	eventually(t, 20*time.Second, func() string {
		if out := d.ok("service", "ps", "--no-trunc", "ghost"); !strings.Contains(out, "No such image: busybox-does-not-exist") {
			return "service ps ghost:\n" + out
		}
		return ""
	})
	d.ok("service", "rm", "ghost")

	// A daemon restart adopts the running container: same ID, no duplicate.
	d.stop()
	d.start()
	eventually(t, 20*time.Second, func() string {
		out, code := d.minsw("container", "ls")
		if code != 0 {
			return out
		}
		if got := rows(out, `sleeper\.1\.`); len(got) != 1 || strings.Fields(got[0])[0] != cid {
			return "container ls after restart:\n" + out
		}
		if out, _ := d.minsw("service", "ls"); len(rows(out, `sleeper\s+replicated\s+1/1`)) != 1 {
			return "service ls after restart:\n" + out
		}
		return ""
	})

	// Drain: the only node gets no tasks; its container goes.
	d.ok("node", "update", "--availability", "drain", "ctr-node")
	eventually(t, 20*time.Second, func() string {
		if out := d.ok("container", "ls"); len(rows(out, `sleeper`)) != 0 {
			return "container still running after drain:\n" + out
		}
		if out := d.ok("service", "ps", "sleeper"); !regexp.MustCompile(`Pending.*no suitable node`).MatchString(out) {
			return "service ps after drain:\n" + out
		}
		return ""
	})

	// Leaving the swarm removes every container and snapshot of the node.
	d.ok("swarm", "leave", "--force")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	left, err := ctrd.Leftovers(ctx, "minsw-ctr-node")
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("left in containerd after swarm leave: %v", left)
	}
}
