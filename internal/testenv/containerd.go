// Package testenv starts the real things minsw's tests and lab run against: a
// containerd daemon with all its state under one temporary directory, and an
// OCI registry (go-containerregistry's) on loopback, plus the busybox test
// image. It never touches /var/lib/containerd or a public registry, and what
// it starts it stops: daemons by their PID, containers by their namespace.
package testenv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/leases"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/snapshots"
	"golang.org/x/sys/unix"
)

// ContainerdOptions tunes a test containerd.
type ContainerdOptions struct {
	// Binary is the containerd executable; "" looks "containerd" up in PATH
	// and then /usr/bin.
	Binary string
	// Dir holds the config, root, state, socket and log; "" makes a fresh
	// directory under os.TempDir() and removes it on Stop.
	Dir string
	// StartTimeout bounds the wait for the daemon to answer (10s).
	StartTimeout time.Duration
}

// Containerd is a containerd daemon started by this package.
type Containerd struct {
	Address string // gRPC socket
	Dir     string
	Pid     int
	LogPath string

	bin     string
	timeout time.Duration
	cmd     *exec.Cmd
	exited  chan struct{}
	ownDir  bool
}

// ErrNoContainerd says the containerd or runc binary is not installed.
var ErrNoContainerd = errors.New("containerd not installed (apt-get install containerd runc)")

func lookBinary(name string, extra ...string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, p := range extra {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w", name, ErrNoContainerd)
}

// StartContainerd runs containerd with its own config: root, state and the
// opt plugin's path under Dir, the CRI plugin disabled. It returns once the
// daemon answers on its socket. Shims still put their sockets under
// /run/containerd/s, as containerd 1.6 always does.
func StartContainerd(ctx context.Context, opts ContainerdOptions) (_ *Containerd, err error) {
	bin := opts.Binary
	if bin == "" {
		if bin, err = lookBinary("containerd", "/usr/bin/containerd", "/usr/local/bin/containerd"); err != nil {
			return nil, err
		}
	} else if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoContainerd, err)
	}
	if _, err := lookBinary("runc", "/usr/sbin/runc", "/usr/bin/runc"); err != nil {
		return nil, err
	}
	if _, err := lookBinary("containerd-shim-runc-v2", "/usr/bin/containerd-shim-runc-v2"); err != nil {
		return nil, err
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 10 * time.Second
	}
	c := &Containerd{Dir: opts.Dir}
	if c.Dir == "" {
		// A short path: the socket's path must fit in a sockaddr_un.
		if c.Dir, err = os.MkdirTemp("", "ctrd-"); err != nil {
			return nil, err
		}
		c.ownDir = true
	}
	defer func() {
		if err != nil && c.ownDir {
			os.RemoveAll(c.Dir)
		}
	}()
	c.Address = filepath.Join(c.Dir, "containerd.sock")
	c.LogPath = filepath.Join(c.Dir, "containerd.log")
	cfgPath := filepath.Join(c.Dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(containerdConfig(c.Dir, c.Address)), 0o644); err != nil {
		return nil, err
	}
	c.bin, c.timeout = bin, opts.StartTimeout
	if err := c.spawn(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// spawn runs the daemon and waits until it answers.
func (c *Containerd) spawn(ctx context.Context) error {
	logf, err := os.OpenFile(c.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	c.exited = make(chan struct{})
	c.cmd = exec.Command(c.bin, "--config", filepath.Join(c.Dir, "config.toml"))
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	// Its own process group, so a ^C to the test does not reach it first
	// and leave shims without their daemon mid-cleanup.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", c.bin, err)
	}
	c.Pid = c.cmd.Process.Pid
	cmd, exited := c.cmd, c.exited
	go func() { cmd.Wait(); close(exited) }()

	if err := c.waitServing(ctx, c.timeout); err != nil {
		c.kill()
		return fmt.Errorf("containerd at %s: %w\n%s", c.Address, err, c.logTail(20))
	}
	return nil
}

// Restart stops the daemon (containers and their shims keep running, as
// with a real containerd restart) and starts it again on the same state.
func (c *Containerd) Restart(ctx context.Context) error {
	c.kill()
	return c.spawn(ctx)
}

func containerdConfig(dir, addr string) string {
	return fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]

[grpc]
  address = %q

[ttrpc]
  address = %q

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), addr, addr+".ttrpc", filepath.Join(dir, "opt"))
}

func (c *Containerd) waitServing(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(c.Address); err == nil {
			cl, err := containerd.New(c.Address, containerd.WithTimeout(time.Second))
			if err == nil {
				sctx, cancel := context.WithTimeout(ctx, time.Second)
				ok, serr := cl.IsServing(sctx)
				cancel()
				cl.Close()
				if ok && serr == nil {
					return nil
				}
			}
		}
		select {
		case <-c.exited:
			return fmt.Errorf("daemon exited: %v", c.cmd.ProcessState)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not serving after %v", timeout)
		}
	}
}

// Client connects to the daemon.
func (c *Containerd) Client() (*containerd.Client, error) {
	return containerd.New(c.Address, containerd.WithTimeout(5*time.Second))
}

// Stop removes everything in every namespace (Sweep), stops the daemon by its
// PID, unmounts what is left under Dir and, when this package made Dir,
// removes it.
func (c *Containerd) Stop(ctx context.Context) error {
	var errs []error
	select {
	case <-c.exited:
	default:
		if err := c.Sweep(ctx); err != nil {
			errs = append(errs, fmt.Errorf("sweep: %w", err))
		}
	}
	c.killShims()
	c.kill()
	if err := unmountUnder(c.Dir); err != nil {
		errs = append(errs, err)
	}
	if c.ownDir {
		if err := os.RemoveAll(c.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// kill ends the daemon: SIGTERM, then SIGKILL after 5 seconds.
func (c *Containerd) kill() {
	select {
	case <-c.exited:
		return
	default:
	}
	_ = syscall.Kill(c.Pid, syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(c.Pid, syscall.SIGKILL)
		<-c.exited
	}
}

// killShims ends shims still bound to this daemon (a task Sweep could not
// delete), found by the daemon address on their command line.
func (c *Containerd) killShims() {
	for _, pid := range ShimPids(c.Address) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// ShimPids are the containerd shims serving the containerd at address
// (found by the -address on their command line), for stopping by PID what a
// containerd left behind.
func ShimPids(address string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) == 0 || !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-address" && args[i+1] == address {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// Sweep deletes every task, container, image, lease and snapshot in every
// namespace, the namespaces themselves, and the namespaces' cgroups.
func (c *Containerd) Sweep(ctx context.Context) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	nss, err := cl.NamespaceService().List(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, ns := range nss {
		if err := SweepNamespace(ctx, cl, ns); err != nil {
			errs = append(errs, fmt.Errorf("namespace %s: %w", ns, err))
		}
	}
	return errors.Join(errs...)
}

// SweepNamespace deletes everything in one namespace and the namespace.
func SweepNamespace(ctx context.Context, cl *containerd.Client, ns string) error {
	ctx = namespaces.WithNamespace(ctx, ns)
	var errs []error
	ctrs, err := cl.Containers(ctx)
	if err != nil {
		return err
	}
	for _, ctr := range ctrs {
		if t, err := ctr.Task(ctx, nil); err == nil {
			if _, err := t.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("task %s: %w", ctr.ID(), err))
			}
		}
		if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("container %s: %w", ctr.ID(), err))
		}
	}
	is := cl.ImageService()
	imgs, err := is.List(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	for _, img := range imgs {
		if err := is.Delete(ctx, img.Name, images.SynchronousDelete()); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("image %s: %w", img.Name, err))
		}
	}
	ls := cl.LeasesService()
	if all, err := ls.List(ctx); err == nil {
		for _, l := range all {
			_ = ls.Delete(ctx, l, leases.SynchronousDelete)
		}
	}
	for _, sn := range []string{"overlayfs", "native"} {
		if err := removeSnapshots(ctx, cl.SnapshotService(sn)); err != nil {
			errs = append(errs, fmt.Errorf("snapshots %s: %w", sn, err))
		}
	}
	if err := cl.NamespaceService().Delete(ctx, ns); err != nil && !errdefs.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("delete: %w", err))
	}
	removeCgroups(ns)
	// runc's per-namespace state directory (the shim's runc root), when empty.
	_ = unix.Rmdir(filepath.Join("/run/containerd/runc", ns))
	return errors.Join(errs...)
}

// removeSnapshots removes leaves first until none are left.
func removeSnapshots(ctx context.Context, sn snapshots.Snapshotter) error {
	for round := 0; round < 64; round++ {
		var all []snapshots.Info
		if err := sn.Walk(ctx, func(_ context.Context, i snapshots.Info) error {
			all = append(all, i)
			return nil
		}); err != nil {
			if errdefs.IsNotFound(err) {
				return nil
			}
			return err
		}
		if len(all) == 0 {
			return nil
		}
		parents := map[string]bool{}
		for _, i := range all {
			parents[i.Parent] = true
		}
		removed := 0
		for _, i := range all {
			if parents[i.Name] {
				continue
			}
			if err := sn.Remove(ctx, i.Name); err == nil || errdefs.IsNotFound(err) {
				removed++
			}
		}
		if removed == 0 {
			return fmt.Errorf("%d snapshots cannot be removed", len(all))
		}
	}
	return errors.New("snapshots keep coming back")
}

// removeCgroups removes the per-namespace cgroup directories runc leaves
// behind (cgroups path /<namespace>/<id>), when empty.
func removeCgroups(ns string) {
	ents, _ := os.ReadDir("/sys/fs/cgroup")
	for _, e := range ents {
		_ = unix.Rmdir(filepath.Join("/sys/fs/cgroup", e.Name(), ns))
	}
	_ = unix.Rmdir(filepath.Join("/sys/fs/cgroup", ns))
}

// Leftovers lists what a test left in namespace ns: containers, tasks and
// active (container) snapshots. Committed image layers are not leftovers.
func (c *Containerd) Leftovers(ctx context.Context, ns string) ([]string, error) {
	cl, err := c.Client()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx = namespaces.WithNamespace(ctx, ns)
	var out []string
	ctrs, err := cl.Containers(ctx)
	if err != nil {
		return nil, err
	}
	for _, ctr := range ctrs {
		out = append(out, "container "+ctr.ID())
	}
	tasks, err := cl.TaskService().List(ctx, &tasks.ListTasksRequest{})
	if err == nil {
		for _, t := range tasks.Tasks {
			out = append(out, "task "+t.ID)
		}
	}
	err = cl.SnapshotService("overlayfs").Walk(ctx, func(_ context.Context, i snapshots.Info) error {
		if i.Kind == snapshots.KindActive {
			out = append(out, "snapshot "+i.Name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, m := range mountsUnder(c.Dir) {
		if strings.Contains(m, "/"+ns+"/") {
			out = append(out, "mount "+m)
		}
	}
	sort.Strings(out)
	return out, nil
}

func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			out = append(out, fields[4])
		}
	}
	return out
}

// unmountUnder detaches every mount below dir, deepest first.
func unmountUnder(dir string) error {
	ms := mountsUnder(dir)
	sort.Sort(sort.Reverse(sort.StringSlice(ms)))
	var errs []error
	for _, m := range ms {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
		}
	}
	return errors.Join(errs...)
}

func (c *Containerd) logTail(n int) string {
	b, _ := os.ReadFile(c.LogPath)
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// NewContainerd starts a containerd for the test and stops it, with
// everything it ran, when the test ends. A missing binary fails the test:
// these tests are part of the suite, not optional extras.
func NewContainerd(t testing.TB) *Containerd {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("containerd tests need root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := StartContainerd(ctx, ContainerdOptions{})
	if err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("stop containerd: %v", err)
		}
	})
	return c
}

// TempDir makes a directory for the test that is removed when the test
// ends together with every mount left below it (network namespace files a
// node bind-mounts there, the shared mount of its netns directory), which
// a plain RemoveAll cannot remove.
func TempDir(t testing.TB, pattern string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unmountUnder(dir); err != nil {
			t.Errorf("cleaning up %s: %v", dir, err)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("cleaning up %s: %v", dir, err)
		}
	})
	return dir
}
