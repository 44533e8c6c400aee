package node_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minsw/minsw/internal/testenv"
)

// minswIn runs the CLI against d with stdin.
func (d *daemon) minswIn(stdin string, args ...string) (string, int) {
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(os.Environ(), "MINSW_HOST=unix://"+d.sock(), "MINSW_VERIFY_SECONDS=0")
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		d.t.Fatalf("running minsw %v: %v", args, err)
	}
	return string(out), code
}

// diskHolding lists files under root, outside any tmpfs, whose content
// holds secret.
func diskHolding(root string, secret []byte) []string {
	var found []string
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		var fs unix.Statfs_t
		if unix.Statfs(p, &fs) == nil && fs.Type == unix.TMPFS_MAGIC {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, secret) {
			found = append(found, p)
		}
		return nil
	})
	return found
}

// memoryHolds says whether the process pid has secret anywhere in its
// readable memory.
func memoryHolds(t *testing.T, pid int, secret []byte) bool {
	t.Helper()
	maps, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || !strings.HasPrefix(f[1], "r") {
			continue
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end-start > 1<<30 {
			continue
		}
		buf := make([]byte, end-start)
		n, _ := mem.ReadAt(buf, int64(start))
		if bytes.Contains(buf[:n], secret) {
			return true
		}
	}
	return false
}

// TestStatefulServiceWithRealContainers runs a manager and a worker on one
// containerd and checks what a user of volumes, mounts, secrets and configs
// sees: data surviving a task's replacement, mounts inside, secrets on a
// tmpfs with their owner and mode, nowhere on disk, never on the node with
// no task of the service, and the in-use refusals.
func TestStatefulServiceWithRealContainers(t *testing.T) {
	ctrd := testenv.NewContainerd(t)
	reg := testenv.NewRegistry(t)
	testenv.PushBusybox(t, reg, "library/busybox:latest")
	base := t.TempDir()
	// Debug logs, so the search below covers everything the daemons log.
	flags := []string{"--executor", "containerd", "--containerd", ctrd.Address, "--registry-mirror", reg.URL, "--log-level", "debug"}
	mgr := &daemon{t: t, name: "vol-manager", dir: filepath.Join(base, "m"), listen: freePort(t), extra: flags}
	wrk := &daemon{t: t, name: "vol-worker", dir: filepath.Join(base, "w"), listen: freePort(t), extra: flags}
	for _, d := range []*daemon{mgr, wrk} {
		d.start()
		t.Cleanup(d.kill)
		// Leaving takes the node's network namespaces and containers away
		// before the daemon is killed.
		t.Cleanup(func() {
			if d.cmd != nil {
				d.minsw("swarm", "leave", "--force")
			}
		})
	}
	out := mgr.ok("swarm", "init", "--advertise-addr", "127.0.0.1")
	token := strings.Fields(out[strings.Index(out, "--token"):])[1]
	wrk.ok("swarm", "join", "--token", token, mgr.listen)

	b := make([]byte, 12)
	rand.Read(b)
	secret := "pw-" + hex.EncodeToString(b)
	if out, code := mgr.minswIn(secret, "secret", "create", "app-key", "-"); code != 0 {
		t.Fatalf("secret create: %s", out)
	}
	if out, code := mgr.minswIn("port 6379\n", "config", "create", "redis-config", "-"); code != 0 {
		t.Fatalf("config create: %s", out)
	}
	if out := mgr.ok("secret", "inspect", "app-key"); strings.Contains(out, secret) {
		t.Fatalf("secret inspect shows the data:\n%s", out)
	}
	hostDir := t.TempDir()
	os.WriteFile(filepath.Join(hostDir, "greeting"), []byte("hello from the host\n"), 0o644)

	mgr.ok("service", "create", "--name", "db", "--constraint", "node.hostname==vol-manager",
		"--mount", "type=volume,source=dbdata,target=/data",
		"--mount", "type=tmpfs,target=/cache,tmpfs-size=1m",
		"--mount", "type=volume,target=/scratch",
		"--mount", "type=bind,source="+hostDir+",target=/host,readonly",
		"--secret", "source=app-key,target=app,uid=1000,gid=1001,mode=0400",
		"--config", "source=redis-config,target=/etc/redis.conf",
		"--restart-delay", "100ms",
		"busybox", "sh", "-c", `trap "exit 3" TERM; while :; do sleep 1; done`)
	ctr := func() string {
		var id string
		eventually(t, 90*time.Second, func() string {
			out := mgr.ok("container", "ls", "--no-trunc")
			r := rows(out, `db\.1\.`)
			if len(r) != 1 {
				ps, _ := mgr.minsw("service", "ps", "--no-trunc", "db")
				all, _ := mgr.minsw("container", "ls", "-a")
				return "container ls:\n" + out + "\nservice ps db:\n" + ps + "\ncontainer ls -a:\n" + all
			}
			id = strings.Fields(r[0])[0]
			return ""
		})
		return id
	}
	id := ctr()
	in := func(sh string) string { return mgr.ok("container", "exec", id, "sh", "-c", sh) }
	if out := in("stat -c '%u %g %a' /run/secrets/app"); strings.TrimSpace(out) != "1000 1001 400" {
		t.Fatalf("secret owner/mode %q", out)
	}
	if out := in("cat /run/secrets/app"); out != secret {
		t.Fatalf("secret content %q", out)
	}
	if out := in("cat /etc/redis.conf; stat -c '%a' /etc/redis.conf"); out != "port 6379\n444\n" {
		t.Fatalf("config %q", out)
	}
	mounts := in("cat /proc/mounts")
	for _, want := range []string{" /data ", " /cache tmpfs rw,nosuid,nodev", "size=1024k", " /host ", " /run/secrets/app tmpfs ro"} {
		if !strings.Contains(mounts, want) {
			t.Errorf("/proc/mounts lacks %q:\n%s", want, mounts)
		}
	}
	if out := in("cat /host/greeting; touch /host/x 2>/dev/null && echo writable || echo read-only"); out != "hello from the host\nread-only\n" {
		t.Errorf("bind: %q", out)
	}
	in("echo survived > /data/f")

	// Secrets: nowhere on either node's disk (data and exec roots, logs),
	// never in the memory of the node that runs no task of the service.
	for _, d := range []*daemon{mgr, wrk} {
		if found := diskHolding(d.dir, []byte(secret)); len(found) != 0 {
			t.Errorf("secret found on disk of %s: %v", d.name, found)
		}
	}
	// containerd's own state (container specs, snapshots) neither.
	if found := diskHolding(ctrd.Dir, []byte(secret)); len(found) != 0 {
		t.Errorf("secret found in containerd's state: %v", found)
	}
	if memoryHolds(t, wrk.cmd.Process.Pid, []byte(secret)) {
		t.Errorf("the worker, with no task of the service, holds the secret in memory")
	}

	// In use: secret, config and volume removal are refused.
	if out, code := mgr.minsw("secret", "rm", "app-key"); code == 0 || !strings.Contains(out, "secret 'app-key' is in use by the following service: db") {
		t.Fatalf("secret rm in use: %d %s", code, out)
	}
	if out, code := mgr.minsw("config", "rm", "redis-config"); code == 0 || !strings.Contains(out, "in use by the following service: db") {
		t.Fatalf("config rm in use: %d %s", code, out)
	}
	if out, code := mgr.minsw("volume", "rm", "dbdata"); code == 0 || !strings.Contains(out, "remove dbdata: volume is in use - [db.1.") {
		t.Fatalf("volume rm in use: %d %s", code, out)
	}
	if out := mgr.ok("volume", "ls"); len(rows(out, `local\s+dbdata`)) != 1 || len(rows(out, `local\s+[0-9a-f]{64}`)) != 1 {
		t.Fatalf("volume ls (dbdata and the anonymous one):\n%s", out)
	}

	// Its container is killed; the replacement task (same node, by the
	// constraint) reads the data back.
	mgr.ok("container", "exec", id, "kill", "1")
	eventually(t, 90*time.Second, func() string {
		if next := ctr(); next == id {
			return "container not replaced yet"
		}
		return ""
	})
	id = ctr()
	eventually(t, 10*time.Second, func() string {
		out, code := mgr.minsw("container", "exec", id, "cat", "/data/f")
		if code != 0 || out != "survived\n" {
			return fmt.Sprintf("replacement reads %q (exit %d)", out, code)
		}
		return ""
	})

	// A bind of a missing path: the task shows docker's message.
	mgr.ok("service", "create", "-d", "--name", "badbind", "--mount", "type=bind,source=/nonexistent/minsw,target=/x", "busybox", "true")
	eventually(t, 30*time.Second, func() string {
		out := mgr.ok("service", "ps", "--no-trunc", "badbind")
		if !strings.Contains(out, `invalid mount config for type "bind": bind source path does not exist: /nonexistent/minsw`) {
			return "service ps badbind:\n" + out
		}
		return ""
	})
	mgr.ok("service", "rm", "badbind")

	// After service rm, the secret and config go; the named volume stays
	// until removed itself.
	mgr.ok("service", "rm", "db")
	eventually(t, 30*time.Second, func() string {
		if out := mgr.ok("container", "ls", "-a"); len(rows(out, `db\.1\.`)) != 0 {
			return "containers left:\n" + out
		}
		return ""
	})
	mgr.ok("secret", "rm", "app-key")
	mgr.ok("config", "rm", "redis-config")
	if out := mgr.ok("volume", "inspect", "dbdata"); !strings.Contains(out, `"Mountpoint": "`+filepath.Join(mgr.dir, "data", "volumes", "dbdata", "_data")+`"`) {
		t.Fatalf("volume inspect:\n%s", out)
	}
	mgr.ok("volume", "rm", "dbdata")
	mgr.ok("volume", "create", "--label", "keep=no", "unused")
	if out := mgr.ok("volume", "prune", "-f"); !strings.Contains(out, "Total reclaimed space: 0B") || strings.Contains(out, "unused") {
		t.Fatalf("prune (anonymous only):\n%s", out)
	}
	if out := mgr.ok("volume", "prune", "-f", "-a"); !strings.Contains(out, "Deleted Volumes:\nunused\n") {
		t.Fatalf("prune -a:\n%s", out)
	}
	if out := mgr.ok("volume", "ls", "-q"); strings.TrimSpace(out) != "" {
		t.Fatalf("volumes left: %q", out)
	}
	if out, code := mgr.minsw("secret", "ls", "-q"); code != 0 || strings.TrimSpace(out) != "" {
		t.Fatalf("secrets left: %q", out)
	}
}
