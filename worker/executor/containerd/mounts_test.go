package containerd

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/minsw/minsw/worker/executor"
)

// onDiskHolding lists the files under root, outside any tmpfs, whose
// content contains secret.
func onDiskHolding(t *testing.T, root string, secret []byte) []string {
	t.Helper()
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

func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 && strings.HasPrefix(fields[4], dir) {
			out = append(out, fields[4])
		}
	}
	return out
}

// One container with every kind of storage: the user sees them as docker
// shows them, secrets never touch the node's disk, and removal leaves no
// mount behind.
func TestMountsSecretsAndConfigsInsideTheContainer(t *testing.T) {
	state := t.TempDir()
	e := newExecutor(t, func(c *Config) { c.StateDir = state })
	ctx := testCtx(t)
	hostDir, vol, empty := t.TempDir(), t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "greeting"), []byte("hello from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	secret := []byte("s3cr3t-" + newID()[:16])
	id := run(t, e, `
cat /proc/mounts
stat -c 'secret %u %g %a' /run/secrets/app
md5sum /run/secrets/app
stat -c 'config %u %g %a' /etc/app.conf
echo "config=$(cat /etc/app.conf)"
cat /host/greeting
touch /host/new 2>/dev/null && echo bind-rw-wrong || echo bind-readonly-ok
echo x > /run/secrets/app 2>/dev/null && echo secret-rw-wrong || echo secret-readonly-ok
echo data > /data/file && echo volume-write-ok
[ -x /bin/busybox ] && echo copied-up-ok
ls -A /empty | wc -l | sed 's/^/empty-entries=/'
stat -c 'cache %a' /cache
echo END-OF-CHECKS
sleep 1000`, func(s *executor.Spec) {
		s.Mounts = []executor.Mount{
			{Kind: executor.MountBind, Source: hostDir, Target: "/host", ReadOnly: true, Propagation: "rslave"},
			{Kind: executor.MountBind, Source: vol, Target: "/data", Volume: "dbdata", CopyUp: true},
			{Kind: executor.MountBind, Source: empty, Target: "/bin", Volume: "binvol", CopyUp: true},
			{Kind: executor.MountTmpfs, Target: "/cache", TmpfsSize: 1 << 20, TmpfsMode: 0o1770 | os.ModeSticky},
		}
		// /empty does not exist in the image: the volume stays empty.
		s.Mounts = append(s.Mounts, executor.Mount{Kind: executor.MountBind, Source: t.TempDir(), Target: "/empty", Volume: "e", CopyUp: true})
		s.Files = []executor.File{
			{Target: "/run/secrets/app", Data: secret, UID: 1000, GID: 1001, Mode: 0o400},
			{Target: "/etc/app.conf", Data: []byte("port 6379"), Mode: 0o444},
		}
	})
	defer func() {
		remove(t, e, id)
		if m := mountsUnder(t, state); len(m) != 0 {
			t.Errorf("mounts left under the state dir after remove: %v", m)
		}
	}()
	var out bytes.Buffer
	waitLog := func(want string) {
		t.Helper()
		for i := 0; i < 500; i++ {
			out.Reset()
			if err := e.Logs(ctx, id, executor.LogsOptions{Tail: -1}, logsTo(&out)); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(out.String(), want) {
				return
			}
			unix.Nanosleep(&unix.Timespec{Nsec: 20e6}, nil)
		}
		t.Fatalf("output lacks %q:\n%s", want, out.String())
	}
	waitLog("END-OF-CHECKS")
	for _, want := range []string{
		" /host ", " /data ", " /cache tmpfs rw,nosuid,nodev",
		"secret 1000 1001 400\n", fmt.Sprintf("%x  /run/secrets/app\n", md5.Sum(secret)), "copied-up-ok\n",
		"config 0 0 444\n", "config=port 6379\n",
		"hello from the host\n", "bind-readonly-ok\n", "secret-readonly-ok\n", "volume-write-ok\n",
		"empty-entries=0\n", "cache 1770\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(out.String(), "size=1024k") {
		t.Errorf("tmpfs size not applied:\n%s", out.String())
	}
	if b, _ := os.ReadFile(filepath.Join(vol, "file")); string(b) != "data\n" {
		t.Errorf("volume on the host holds %q", b)
	}
	if _, err := os.Stat(filepath.Join(empty, "busybox")); err != nil {
		t.Errorf("image's /bin not copied into the empty volume: %v", err)
	}
	// The secret is in memory (tmpfs) only: nothing on disk holds it.
	if found := onDiskHolding(t, state, secret); len(found) != 0 {
		t.Errorf("secret found on disk: %v", found)
	}
	if m := mountsUnder(t, state); len(m) != 1 || !strings.HasSuffix(m[0], "/files") {
		t.Errorf("mounts under the state dir: %v", m)
	}
}

func TestMissingBindSourceIsDockersError(t *testing.T) {
	e := newExecutor(t)
	err := e.Create(testCtx(t), executor.Spec{ID: newID(), Name: "web.1.x", Image: "busybox", Command: []string{"true"},
		Mounts: []executor.Mount{{Kind: executor.MountBind, Source: "/nonexistent/minsw-test", Target: "/x"}}})
	if err == nil || err.Error() != `invalid mount config for type "bind": bind source path does not exist: /nonexistent/minsw-test` {
		t.Fatalf("create: %v", err)
	}
}
