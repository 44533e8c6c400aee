package containerd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minsw/minsw/internal/eventually"
	"github.com/minsw/minsw/internal/ociimage"
	"github.com/minsw/minsw/internal/testenv"
	"github.com/minsw/minsw/worker/executor"
)

// env is the containerd and registry every test of this package shares; each
// test works in its own containerd namespace.
var env struct {
	ctrd *testenv.Containerd
	reg  *testenv.Registry
}

func TestMain(m *testing.M) {
	// containerd starts this test binary as the containers' log writer.
	if IsLogWriter(os.Args[1:]) {
		os.Exit(RunLogWriter(os.Args[1:]))
	}
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "these tests run containers with containerd: run them as root")
		return 1
	}
	c, err := testenv.StartContainerd(ctx, testenv.ContainerdOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start containerd:", err)
		return 1
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "stop containerd:", err)
		}
	}()
	r, err := testenv.StartRegistry(testenv.RegistryOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer r.Close()
	spec, err := ociimage.Busybox(ctx, testenv.BusyboxBinary)
	if err != nil {
		fmt.Fprintln(os.Stderr, "busybox image (apt-get install busybox-static):", err)
		return 1
	}
	if _, err := ociimage.BuildAndPush(ctx, r.Host+"/library/busybox:latest", spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env.ctrd, env.reg = c, r
	return m.Run()
}

var nsCounter atomic.Int64

// newExecutor makes an executor on a fresh namespace whose registry mirror is
// the test registry. When the test ends it checks that the namespace holds
// no container, task, container snapshot or mount, then sweeps it.
func newExecutor(t testing.TB, adjust ...func(*Config)) *Executor {
	t.Helper()
	cfg := DefaultConfig(fmt.Sprintf("t%d-%d", os.Getpid(), nsCounter.Add(1)))
	cfg.Address = env.ctrd.Address
	cfg.StateDir = t.TempDir()
	cfg.RegistryMirror = env.reg.URL
	cfg.LogPollInterval = 20 * time.Millisecond
	if exe, err := os.Executable(); err == nil {
		cfg.LogBinary = exe
	}
	for _, a := range adjust {
		a(&cfg)
	}
	e, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		left, err := env.ctrd.Leftovers(ctx, cfg.Namespace)
		if err != nil {
			t.Errorf("leftovers: %v", err)
		}
		if len(left) > 0 {
			t.Errorf("namespace %s: left behind %v", cfg.Namespace, left)
		}
		e.Close()
		cl, err := env.ctrd.Client()
		if err != nil {
			t.Error(err)
			return
		}
		defer cl.Close()
		if err := testenv.SweepNamespace(ctx, cl, cfg.Namespace); err != nil {
			t.Errorf("sweep %s: %v", cfg.Namespace, err)
		}
	})
	return e
}

func newID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// run creates and starts a busybox container running the shell script sh.
func run(t testing.TB, e *Executor, sh string, adjust ...func(*executor.Spec)) string {
	t.Helper()
	ctx := testCtx(t)
	spec := executor.Spec{
		ID:      newID(),
		Name:    "web.1.abcdefghijklmnopqrstuvwxy",
		Image:   "busybox",
		Command: []string{"sh", "-c", sh},
	}
	for _, a := range adjust {
		a(&spec)
	}
	if err := e.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	return spec.ID
}

// remove removes a container, failing the test on error.
func remove(t testing.TB, e *Executor, id string) {
	t.Helper()
	if err := e.Remove(testCtx(t), id); err != nil {
		t.Fatal(err)
	}
}

// runReady runs sh, which must print "ready" once it has set itself up, and
// waits for that line: until then PID 1 may still be runc's init (a Go
// program that exits 2 on SIGTERM), so a test that signals the container
// must not do it sooner.
func runReady(t testing.TB, e *Executor, sh string, adjust ...func(*executor.Spec)) string {
	t.Helper()
	id := run(t, e, sh, adjust...)
	ctx := testCtx(t)
	eventually.True(t, "the container printed ready", func() bool {
		var out bytes.Buffer
		err := e.Logs(ctx, id, executor.LogsOptions{Tail: -1}, logsTo(&out))
		return err == nil && strings.Contains(out.String(), "ready\n")
	})
	return id
}

// waitExited polls until the container has exited.
// exitedLogs reads the whole log of exited container id until it holds
// every string of want, for 10 s at most, and returns it. The log writer
// is a process of its own that lives as long as the task: it may not have
// written the last of the output yet when the exit is reported (a log read
// at once was empty, on a machine at load 15), and nothing says when it has.
func exitedLogs(t testing.TB, e *Executor, id string, want ...string) string {
	t.Helper()
	var out bytes.Buffer
	for range 500 {
		out.Reset()
		if err := e.Logs(testCtx(t), id, executor.LogsOptions{Tail: -1}, logsTo(&out)); err != nil {
			t.Fatal(err)
		}
		if holdsAll(out.String(), want) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return out.String()
}

func holdsAll(s string, want []string) bool {
	for _, w := range want {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

func waitExited(t testing.TB, e *Executor, id string) executor.Status {
	t.Helper()
	ctx := testCtx(t)
	for i := 0; i < 500; i++ {
		st, err := e.Inspect(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == executor.StateExited {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("container %s did not exit in 10s", short(id))
	return executor.Status{}
}
