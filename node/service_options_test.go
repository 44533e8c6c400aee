package node_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/minsw/minsw/internal/testenv"
)

// TestServiceOptionsThroughTheCLI replays issue 15's options on two real
// daemons with real containers: container options seen from inside,
// reservations counted against what the nodes report, engine labels,
// replicated and global jobs, and bad input refused with the state
// unchanged.
func TestServiceOptionsThroughTheCLI(t *testing.T) {
	ctrd := testenv.NewContainerd(t)
	reg := testenv.NewRegistry(t)
	testenv.PushBusybox(t, reg, "library/busybox:latest")
	base := t.TempDir()
	flags := []string{"--executor", "containerd", "--containerd", ctrd.Address, "--registry-mirror", reg.URL}
	mgr := &daemon{t: t, name: "opt-manager", dir: filepath.Join(base, "m"), listen: freePort(t), extra: flags}
	wrk := &daemon{t: t, name: "opt-worker", dir: filepath.Join(base, "w"), listen: freePort(t),
		extra: append(append([]string{}, flags...), "--label", "disk=ssd")}
	for _, d := range []*daemon{mgr, wrk} {
		d.start()
		t.Cleanup(d.kill)
		t.Cleanup(func() {
			if d.cmd != nil {
				d.minsw("swarm", "leave", "--force")
			}
		})
	}
	out := mgr.ok("swarm", "init", "--advertise-addr", "127.0.0.1")
	token := strings.Fields(out[strings.Index(out, "--token"):])[1]
	wrk.ok("swarm", "join", "--token", token, mgr.listen)

	// Nodes report their CPUs and memory, and the daemon's --label.
	cpus := fmt.Sprint(runtime.NumCPU())
	eventually(t, 20*time.Second, func() string {
		out := mgr.ok("node", "inspect", "--pretty", "opt-worker")
		if !strings.Contains(out, "CPUs:") || !strings.Contains(out, " - disk=ssd") {
			return "node inspect:\n" + out
		}
		return ""
	})

	// Container options, seen from inside the running task.
	mgr.ok("service", "create", "--name", "opts", "--constraint", "engine.labels.disk==ssd",
		"--hostname", "{{.Service.Name}}-{{.Task.Slot}}-{{.Node.Hostname}}", "--cap-drop", "ALL", "--cap-add", "NET_ADMIN",
		"--init", "--user", "1000:1000", "--limit-memory", "64m", "--ulimit", "nofile=512:1024", "--read-only",
		"--stop-signal", "SIGUSR1", "--host", "db:10.0.0.9", "busybox", "sh", "-c", `trap "exit 0" USR1; while :; do sleep 0.2; done`)
	var id, node string
	eventually(t, 60*time.Second, func() string {
		out := mgr.ok("service", "ps", "opts")
		r := rows(out, `opts\.1 .*Running`)
		if len(r) != 1 {
			return "service ps:\n" + out
		}
		node = strings.Fields(r[0])[3]
		return ""
	})
	if node != "opt-worker" {
		t.Errorf("engine.labels.disk==ssd placed the task on %s", node)
	}
	eventually(t, 30*time.Second, func() string {
		out := wrk.ok("container", "ls", "--no-trunc")
		r := rows(out, `opts\.1\.`)
		if len(r) != 1 {
			return "container ls:\n" + out
		}
		id = strings.Fields(r[0])[0]
		return ""
	})
	in := func(sh string) string { return wrk.ok("container", "exec", id, "sh", "-c", sh) }
	for sh, want := range map[string]string{
		"hostname":                           "opts-1-opt-worker\n",
		"id -u":                              "1000\n",
		"grep CapBnd /proc/1/status":         "CapBnd:\t0000000000001000\n",
		"cat /proc/1/cmdline | tr '\\0' ' '": "/sbin/docker-init -- sh -c",
		"grep 'open files' /proc/1/limits":   "512                  1024",
		"touch /x 2>&1 || echo read-only":    "read-only",
		"grep db /etc/hosts":                 "10.0.0.9\tdb\n",
	} {
		if got := in(sh); !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", sh, got, want)
		}
	}
	// service update counterparts reach a new task.
	mgr.ok("service", "update", "--cap-add", "SYS_TIME", "--ulimit-add", "nofile=256:256", "opts")
	eventually(t, 60*time.Second, func() string {
		out := wrk.ok("container", "ls", "--no-trunc")
		r := rows(out, `Up.*opts\.1\.`)
		if len(r) != 1 || strings.Fields(r[0])[0] == id {
			return "container ls:\n" + out + "\nservice ps:\n" + mgr.ok("service", "ps", "--no-trunc", "opts") +
				"\nworker log:\n" + tailFile(filepath.Join(wrk.dir, "daemon.log"), 3000)
		}
		id = strings.Fields(r[0])[0]
		return ""
	})
	if got := in("grep CapBnd /proc/1/status; grep 'open files' /proc/1/limits"); !strings.Contains(got, "CapBnd:\t0000000002001000\n") || !strings.Contains(got, "256                  256") {
		t.Errorf("after update: %q", got)
	}

	// Reservations: a node holds as many tasks as its CPUs allow.
	mgr.ok("service", "create", "-d", "--name", "hog", "--reserve-cpu", cpus, "--replicas", "3", "busybox", "sleep", "1000")
	eventually(t, 60*time.Second, func() string {
		out := mgr.ok("service", "ps", "--no-trunc", "hog")
		if len(rows(out, `Running +Running`)) != 2 || !strings.Contains(out, "insufficient resources on 2 nodes") {
			return "service ps hog:\n" + out
		}
		return ""
	})
	before := mgr.ok("service", "ls")
	for _, bad := range [][]string{
		{"--reserve-memory", "100T"},
		{"--limit-memory", "10XB"},
		{"--cap-add", "NET_WIZARD"},
		{"--sysctl", "kernel.panic=1"},
		{"--hostname", "{{.Service.Name"},
		{"--max-concurrent", "2"},
	} {
		out, code := mgr.minsw(append(append([]string{"service", "create", "-d", "--name", "bad"}, bad...), "busybox")...)
		if code == 0 || strings.Count(strings.TrimSpace(out), "\n") != 0 {
			t.Errorf("%v: exit %d, %q; want a one-line error", bad, code, out)
		}
	}
	if after := mgr.ok("service", "ls"); after != before {
		t.Errorf("refused creates changed service ls:\n%s\n%s", before, after)
	}
	mgr.ok("service", "rm", "hog", "opts")

	// Jobs complete and are not restarted.
	out = mgr.ok("service", "create", "--name", "batch", "--mode", "replicated-job", "--replicas", "3", "--max-concurrent", "2",
		"busybox", "sh", "-c", "sleep 0.2")
	if !strings.Contains(out, "job complete") {
		t.Errorf("create of a job does not wait for it:\n%s", out)
	}
	mgr.ok("service", "create", "-d", "--name", "sweep", "--mode", "global-job", "busybox", "true")
	eventually(t, 60*time.Second, func() string {
		out := mgr.ok("service", "ls")
		if len(rows(out, `batch +replicated job +0/0 \(3/3 completed\)`)) != 1 || len(rows(out, `sweep +global job +0/0 \(2/2 completed\)`)) != 1 {
			return "service ls:\n" + out
		}
		return ""
	})
	time.Sleep(time.Second)
	if out := mgr.ok("service", "ps", "batch"); len(rows(out, `batch\.`)) != 3 || len(rows(out, `Complete +Complete`)) != 3 {
		t.Errorf("a job's tasks are restarted or not complete:\n%s", out)
	}
}

func tailFile(path string, n int) string {
	b, _ := os.ReadFile(path)
	return string(b[max(0, len(b)-n):])
}
