package containerd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minsw/minsw/internal/ociimage"
	"github.com/minsw/minsw/internal/testenv"
	"github.com/minsw/minsw/worker/executor"
)

func TestRunAndStop(t *testing.T) {
	e := newExecutor(t)
	ctx := testCtx(t)
	if err := e.Pull(ctx, "busybox"); err != nil {
		t.Fatal(err)
	}
	id := runReady(t, e, `trap "exit 3" TERM; echo ready; while true; do sleep 0.05; done`, func(s *executor.Spec) {
		s.Labels = map[string]string{"minsw.task.id": "abc"}
	})
	st, err := e.Inspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != executor.StateRunning || st.Pid == 0 || st.StartedAt.IsZero() {
		t.Errorf("after start: %+v", st)
	}
	if st.Name != "web.1.abcdefghijklmnopqrstuvwxy" || st.Image != "busybox" || st.Labels["minsw.task.id"] != "abc" {
		t.Errorf("name/image/labels: %+v", st)
	}
	if len(st.Command) != 3 || st.Command[0] != "sh" {
		t.Errorf("command %q", st.Command)
	}
	if err := e.Start(ctx, id); err != nil {
		t.Errorf("start a running container again: %v", err)
	}

	// Exit code 3 below says the TERM trap ended it, not the kill after
	// the 10 s grace period.
	if err := e.Stop(ctx, id, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	st, err = e.Inspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != executor.StateExited || st.ExitCode != 3 || st.FinishedAt.IsZero() {
		t.Errorf("after stop: %+v", st)
	}
	if err := e.Stop(ctx, id, time.Second); err != nil {
		t.Errorf("stop an exited container: %v", err)
	}
	remove(t, e, id)
	if _, err := e.Inspect(ctx, id); !errors.Is(err, executor.ErrNotFound) {
		t.Errorf("inspect after remove: %v", err)
	}
	if err := e.Remove(ctx, id); !errors.Is(err, executor.ErrNotFound) {
		t.Errorf("remove again: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.cfg.StateDir, id)); !os.IsNotExist(err) {
		t.Errorf("state dir kept: %v", err)
	}
}

func TestStopKillsAProcessIgnoringTERM(t *testing.T) {
	e := newExecutor(t)
	ctx := testCtx(t)
	// PID 1 without a handler ignores SIGTERM.
	id := runReady(t, e, `echo ready; exec sleep 1000`)
	if err := e.Stop(ctx, id, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	st, _ := e.Inspect(ctx, id)
	if st.State != executor.StateExited || st.ExitCode != 137 {
		t.Errorf("after stop: state %v exit %d, want exited 137", st.State, st.ExitCode)
	}
	remove(t, e, id)
}

func TestContainerSeesItsHostnameDNSHostsAndEnv(t *testing.T) {
	e := newExecutor(t)
	id := run(t, e, `echo "host=$(hostname)"; cat /etc/resolv.conf /etc/hosts; echo "foo=$FOO"; echo "path=$PATH"; exit 7`,
		func(s *executor.Spec) {
			s.DNS = []string{"127.0.0.11"}
			s.DNSSearch = []string{"example.org"}
			s.DNSOpts = []string{"ndots:0"}
			s.Env = []string{"FOO=bar"}
			s.Hosts = []string{"10.0.1.5 db"}
		})
	st := waitExited(t, e, id)
	if st.ExitCode != 7 {
		t.Errorf("exit code %d, want 7", st.ExitCode)
	}
	out := exitedLogs(t, e, id, "path=") // the last line
	for _, want := range []string{
		"host=" + id[:12] + "\n",
		"nameserver 127.0.0.11\nsearch example.org\noptions ndots:0\n",
		"127.0.0.1\tlocalhost\n",
		"10.0.1.5\tdb\n",
		"127.0.1.1\t" + id[:12] + " web.1.abcdefghijklmnopqrstuvwxy\n",
		"foo=bar\n",
		"path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	remove(t, e, id)
}

func TestCrashingContainerSendsExitEvent(t *testing.T) {
	e := newExecutor(t)
	ctx := testCtx(t)
	evctx, cancel := context.WithCancel(ctx)
	events, err := e.Events(evctx)
	if err != nil {
		t.Fatal(err)
	}
	other := run(t, e, `sleep 1000`)
	id := run(t, e, `echo dying; exit 42`)
	select {
	case ev := <-events:
		if ev.ID != id || ev.State != executor.StateExited || ev.ExitCode != 42 || ev.At.IsZero() {
			t.Errorf("event %+v, want %s exited 42", ev, short(id))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit event in 10s")
	}
	// An exec's exit is not the container's.
	if code, err := e.Exec(ctx, other, executor.ExecConfig{Cmd: []string{"true"}}); err != nil || code != 0 {
		t.Fatalf("exec: %d %v", code, err)
	}
	select {
	case ev := <-events:
		t.Errorf("unexpected event %+v", ev)
	case <-time.After(200 * time.Millisecond):
	}
	cancel()
	for range events {
	}
	remove(t, e, id)
	remove(t, e, other)
}

func TestRestartAfterExit(t *testing.T) {
	e := newExecutor(t)
	ctx := testCtx(t)
	id := run(t, e, `echo run; exit 1`)
	waitExited(t, e, id)
	if err := e.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitExited(t, e, id)
	var out bytes.Buffer
	if err := e.Logs(ctx, id, executor.LogsOptions{Tail: -1}, logsTo(&out)); err != nil {
		t.Fatal(err)
	}
	if out.String() != "run\nrun\n" {
		t.Errorf("logs %q, want two runs", out.String())
	}
	remove(t, e, id)
}

func TestExecWithoutTTY(t *testing.T) {
	e := newExecutor(t)
	ctx := testCtx(t)
	id := run(t, e, `sleep 1000`)
	defer remove(t, e, id)

	var stdout, stderr bytes.Buffer
	code, err := e.Exec(ctx, id, executor.ExecConfig{
		Cmd:    []string{"sh", "-c", `echo out; echo err >&2; echo "x=$X"; exit 5`},
		Env:    []string{"X=1"},
		Stdout: &stdout, Stderr: &stderr,
	})
	if err != nil || code != 5 {
		t.Errorf("exit %d, %v; want 5", code, err)
	}
	if stdout.String() != "out\nx=1\n" || stderr.String() != "err\n" {
		t.Errorf("stdout %q stderr %q", stdout.String(), stderr.String())
	}

	stdout.Reset()
	code, err = e.Exec(ctx, id, executor.ExecConfig{
		Cmd:    []string{"sh", "-c", "cat; echo done"},
		Stdin:  strings.NewReader("hello\nworld\n"),
		Stdout: &stdout,
	})
	if err != nil || code != 0 || stdout.String() != "hello\nworld\ndone\n" {
		t.Errorf("stdin: exit %d, %v, stdout %q", code, err, stdout.String())
	}

	code, err = e.Exec(ctx, id, executor.ExecConfig{Cmd: []string{"nosuchcmd"}, Stdout: &stdout})
	if err == nil || code != 127 {
		t.Errorf("missing command: exit %d, %v; want 127 and an error", code, err)
	} else {
		t.Logf("missing command: %v", err)
	}

	if _, err := e.Exec(ctx, newID(), executor.ExecConfig{Cmd: []string{"true"}}); !errors.Is(err, executor.ErrNotFound) {
		t.Errorf("exec in unknown container: %v", err)
	}
}

func TestExecWithTTY(t *testing.T) {
	e := newExecutor(t)
	ctx := testCtx(t)
	id := run(t, e, `sleep 1000`)
	defer remove(t, e, id)

	// One shot: the terminal has the size waiting on Resize.
	var out bytes.Buffer
	resize := make(chan executor.WindowSize, 1)
	resize <- executor.WindowSize{Rows: 30, Cols: 100}
	code, err := e.Exec(ctx, id, executor.ExecConfig{
		Cmd: []string{"sh", "-c", "tty; stty size; test -t 0 && echo interactive"}, TTY: true,
		Stdout: &out, Resize: resize,
	})
	if err != nil || code != 0 {
		t.Fatalf("exit %d, %v", code, err)
	}
	got := strings.ReplaceAll(out.String(), "\r\n", "\n")
	for _, want := range []string{"/dev/pts/", "30 100\n", "interactive\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("tty output lacks %q: %q", want, got)
		}
	}

	// Interactive: a shell reading commands, resized while it runs.
	stdinR, stdinW := io.Pipe()
	outR, outW := io.Pipe()
	resize = make(chan executor.WindowSize, 1)
	resize <- executor.WindowSize{Rows: 24, Cols: 80}
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := e.Exec(ctx, id, executor.ExecConfig{
			Cmd: []string{"sh"}, TTY: true, Stdin: stdinR, Stdout: outW, Resize: resize,
		})
		outW.Close()
		done <- result{code, err}
	}()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		buf := make([]byte, 4096)
		var acc string
		for {
			n, err := outR.Read(buf)
			acc += string(buf[:n])
			for {
				i := strings.IndexAny(acc, "\n")
				if i < 0 {
					break
				}
				lines <- strings.TrimRight(acc[:i], "\r")
				acc = acc[i+1:]
			}
			if err != nil {
				return
			}
		}
	}()
	expect := func(want string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("output ended before %q", want)
				}
				if l == want {
					return
				}
			case <-deadline:
				t.Fatalf("no line %q in 10s", want)
			}
		}
	}
	io.WriteString(stdinW, "stty size\n")
	expect("24 80")
	resize <- executor.WindowSize{Rows: 40, Cols: 120}
	// The resize reaches the terminal asynchronously: ask until it shows.
	resized := false
	for i := 0; i < 50 && !resized; i++ {
		io.WriteString(stdinW, "stty size\n")
		timeout := time.After(200 * time.Millisecond)
	read:
		for {
			select {
			case l := <-lines:
				if l == "40 120" {
					resized = true
					break read
				}
			case <-timeout:
				break read
			}
		}
	}
	if !resized {
		t.Fatal("terminal never showed the new size 40 120")
	}
	io.WriteString(stdinW, "exit 3\n")
	select {
	case r := <-done:
		if r.err != nil || r.code != 3 {
			t.Errorf("interactive exit %d, %v; want 3", r.code, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("interactive exec did not end")
	}
	stdinW.Close()
}

func TestLogsTailAndFollow(t *testing.T) {
	e := newExecutor(t)
	ctx := testCtx(t)
	// stdout and stderr reach the file through separate pipes, copied by
	// separate goroutines of the shim: only the order within one stream is
	// certain.
	id := run(t, e, `for i in 1 2 3 4 5; do echo line$i; done; echo oops >&2; sleep 0.5; echo late`)

	var follow bytes.Buffer
	followed := make(chan error, 1)
	go func() {
		followed <- e.Logs(ctx, id, executor.LogsOptions{Follow: true, Tail: -1}, logsTo(&follow))
	}()
	select {
	case err := <-followed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not end when the container exited")
	}
	sorted := func(s string) string {
		l := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
		sort.Strings(l)
		return strings.Join(l, ",")
	}
	all := "late,line1,line2,line3,line4,line5,oops"
	if sorted(follow.String()) != all || !strings.HasSuffix(follow.String(), "line5\nlate\n") && !strings.HasSuffix(follow.String(), "oops\nlate\n") {
		t.Errorf("follow: %q", follow.String())
	}
	for _, tc := range []struct {
		tail int
		want string
	}{
		{-1, all},
		{0, ""},
		{1, "late"},
		{100, all},
	} {
		var b bytes.Buffer
		if err := e.Logs(ctx, id, executor.LogsOptions{Tail: tc.tail}, logsTo(&b)); err != nil {
			t.Fatal(err)
		}
		if got := sorted(b.String()); got != tc.want {
			t.Errorf("tail %d: %q, want lines %s", tc.tail, b.String(), tc.want)
		}
	}
	var two bytes.Buffer
	e.Logs(ctx, id, executor.LogsOptions{Tail: 2}, logsTo(&two))
	if strings.Count(two.String(), "\n") != 2 || !strings.HasSuffix(two.String(), "\nlate\n") {
		t.Errorf("tail 2: %q", two.String())
	}

	// Follow ends with the caller's context on a container that runs on.
	long := run(t, e, `echo hi; sleep 1000`)
	for i := 0; i < 250; i++ {
		var b bytes.Buffer
		e.Logs(ctx, long, executor.LogsOptions{Tail: -1}, logsTo(&b))
		if b.String() == "hi\n" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	fctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	var b bytes.Buffer
	if err := e.Logs(fctx, long, executor.LogsOptions{Follow: true, Tail: 1}, logsTo(&b)); err != nil {
		t.Fatal(err)
	}
	if b.String() != "hi\n" {
		t.Errorf("follow of a running container: %q", b.String())
	}
	remove(t, e, id)
	remove(t, e, long)
}

func TestNewExecutorAdoptsRunningContainers(t *testing.T) {
	e := newExecutor(t)
	ctx := testCtx(t)
	running := run(t, e, `echo hello; sleep 1000`)
	exited := run(t, e, `exit 2`)
	waitExited(t, e, exited)
	e.Close()

	// The daemon restarts: a new executor on the same namespace and state.
	e2, err := New(ctx, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	all, err := e2.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]executor.Status{}
	for _, s := range all {
		got[s.ID] = s
	}
	if len(got) != 2 {
		t.Fatalf("list: %+v", all)
	}
	if s := got[running]; s.State != executor.StateRunning || s.Pid == 0 || s.Name == "" || s.Image != "busybox" {
		t.Errorf("running: %+v", s)
	}
	if s := got[exited]; s.State != executor.StateExited || s.ExitCode != 2 {
		t.Errorf("exited: %+v", s)
	}
	var out bytes.Buffer
	if err := e2.Logs(ctx, running, executor.LogsOptions{Tail: -1}, logsTo(&out)); err != nil || out.String() != "hello\n" {
		t.Errorf("logs after adoption: %q %v", out.String(), err)
	}
	if code, err := e2.Exec(ctx, running, executor.ExecConfig{Cmd: []string{"true"}}); err != nil || code != 0 {
		t.Errorf("exec after adoption: %d %v", code, err)
	}
	for _, id := range []string{running, exited} {
		if err := e2.Remove(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPullFailures(t *testing.T) {
	ctx := testCtx(t)
	t.Run("no such image", func(t *testing.T) {
		e := newExecutor(t)
		err := e.Pull(ctx, "containous/whoamix")
		if !errors.Is(err, executor.ErrImagePull) {
			t.Fatalf("got %v, want ErrImagePull", err)
		}
		if err.Error() != "No such image: containous/whoamix:latest" {
			t.Errorf("message %q", err.Error())
		}
		err = e.Create(ctx, executor.Spec{ID: newID(), Image: "containous/whoamix"})
		if !errors.Is(err, executor.ErrImagePull) {
			t.Errorf("create: %v", err)
		}
	})
	t.Run("registry down", func(t *testing.T) {
		e := newExecutor(t, func(c *Config) { c.RegistryMirror = "http://" + testenv.FreeAddr(t) })
		err := e.Pull(ctx, "busybox")
		if !errors.Is(err, executor.ErrImagePull) || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("got %v, want ErrImagePull with connection refused", err)
		}
		t.Log(err)
	})
	t.Run("invalid reference", func(t *testing.T) {
		e := newExecutor(t)
		if err := e.Pull(ctx, "Not/Valid:::"); !errors.Is(err, executor.ErrImagePull) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("by registry host without mirror", func(t *testing.T) {
		e := newExecutor(t, func(c *Config) { c.RegistryMirror = "" })
		if err := e.Pull(ctx, env.reg.Host+"/library/busybox:latest"); err != nil {
			t.Errorf("pull from loopback registry: %v", err)
		}
	})
}

func TestBadCommandLeavesNothingBehind(t *testing.T) {
	e := newExecutor(t)
	ctx := testCtx(t)
	id := newID()
	err := e.Create(ctx, executor.Spec{ID: id, Image: "busybox", Command: []string{"/nosuch/binary"}})
	if err == nil {
		t.Fatal("no error")
	}
	t.Log(err)
	if !strings.Contains(err.Error(), "/nosuch/binary") {
		t.Errorf("error does not name the command: %v", err)
	}
	if _, err := e.Inspect(ctx, id); !errors.Is(err, executor.ErrNotFound) {
		t.Errorf("container kept: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.cfg.StateDir, id)); !os.IsNotExist(err) {
		t.Errorf("state dir kept: %v", err)
	}
	// newExecutor's cleanup checks containerd has no container, task,
	// snapshot or mount left.
}

func TestCreateTwiceIsAlreadyExists(t *testing.T) {
	e := newExecutor(t)
	ctx := testCtx(t)
	spec := executor.Spec{ID: newID(), Image: "busybox", Command: []string{"true"}}
	if err := e.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := e.Create(ctx, spec); !errors.Is(err, executor.ErrAlreadyExists) {
		t.Errorf("second create: %v", err)
	}
	remove(t, e, spec.ID)
}

func TestNamespacesAreIsolated(t *testing.T) {
	a, b := newExecutor(t), newExecutor(t)
	ctx := testCtx(t)
	id := run(t, a, `sleep 1000`)
	if _, err := b.Inspect(ctx, id); !errors.Is(err, executor.ErrNotFound) {
		t.Errorf("other node sees the container: %v", err)
	}
	if l, _ := b.List(ctx); len(l) != 0 {
		t.Errorf("other node lists %+v", l)
	}
	// The same ID may live in both namespaces.
	idB := run(t, b, `sleep 1000`, func(s *executor.Spec) { s.ID = id })
	for _, e := range []*Executor{a, b} {
		st, err := e.Inspect(ctx, idB)
		if err != nil || st.State != executor.StateRunning {
			t.Errorf("%s: %+v %v", e.cfg.Namespace, st, err)
		}
	}
	if err := b.Stop(ctx, id, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if st, _ := a.Inspect(ctx, id); st.State != executor.StateRunning {
		t.Errorf("stopping in one namespace stopped the other: %+v", st)
	}
	remove(t, a, id)
	remove(t, b, id)
}

func TestConcurrentCreatesPullOnce(t *testing.T) {
	var log lockedBuffer
	reg, err := testenv.StartRegistry(testenv.RegistryOptions{Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	testenv.PushBusybox(t, reg, "library/busybox:latest")
	log.Reset()
	e := newExecutor(t, func(c *Config) { c.RegistryMirror = reg.URL })
	ctx := testCtx(t)

	ids := make([]string, 5)
	var wg sync.WaitGroup
	errs := make(chan error, len(ids))
	for i := range ids {
		ids[i] = newID()
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			errs <- e.Create(ctx, executor.Spec{ID: id, Image: "busybox", Command: []string{"true"}})
		}(ids[i])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := strings.Count(log.String(), "/manifests/latest"); n != 1 {
		t.Errorf("%d manifest requests, want 1:\n%s", n, log.String())
	}
	for _, id := range ids {
		remove(t, e, id)
	}
}

func TestJoinsTheGivenNetworkNamespace(t *testing.T) {
	e := newExecutor(t)
	path, inode := newNetns(t)
	id := run(t, e, `readlink /proc/self/ns/net; exit 0`, func(s *executor.Spec) { s.NetnsPath = path })
	waitExited(t, e, id)
	want := "net:[" + inode + "]\n"
	if out := exitedLogs(t, e, id, "\n"); out != want {
		t.Errorf("container netns %q, want %q", out, want)
	}
	remove(t, e, id)
}

func TestContainerdNotRunning(t *testing.T) {
	cfg := DefaultConfig("node1")
	cfg.Address = filepath.Join(t.TempDir(), "containerd.sock")
	cfg.StateDir = t.TempDir()
	_, err := New(testCtx(t), cfg)
	if err == nil || !strings.Contains(err.Error(), cfg.Address) {
		t.Fatalf("got %v, want an error naming %s", err, cfg.Address)
	}
	t.Log(err)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuffer) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}

func TestPurgeLeavesNoTrace(t *testing.T) {
	e := newExecutor(t)
	ctx := testCtx(t)
	run(t, e, `sleep 1000`)
	id := run(t, e, `exit 0`)
	waitExited(t, e, id)
	if err := e.Create(ctx, executor.Spec{ID: newID(), Image: "busybox", Command: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	cl, err := env.ctrd.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	nss, err := cl.NamespaceService().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range nss {
		if ns == e.cfg.Namespace {
			t.Errorf("namespace %s still there", ns)
		}
	}
	ents, _ := os.ReadDir(e.cfg.StateDir)
	if len(ents) != 1 {
		t.Errorf("state dir holds %v", ents)
	}
}

func TestStaleSocketIsAClearError(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "containerd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	cfg := DefaultConfig("node1")
	cfg.Address, cfg.StateDir, cfg.DialTimeout = sock, dir, 2*time.Second
	begin := time.Now()
	_, err = New(testCtx(t), cfg)
	if err == nil || !strings.Contains(err.Error(), sock) {
		t.Fatalf("got %v, want an error naming %s", err, sock)
	}
	t.Logf("%v (after %v)", err, time.Since(begin).Round(time.Millisecond))
}

func TestSurvivesContainerdRestart(t *testing.T) {
	ctrd := testenv.NewContainerd(t)
	cfg := DefaultConfig("restart")
	cfg.Address, cfg.StateDir, cfg.RegistryMirror = ctrd.Address, t.TempDir(), env.reg.URL
	ctx := testCtx(t)
	e, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	events, err := e.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := run(t, e, `echo before; sleep 1000`)

	if err := ctrd.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := e.Inspect(ctx, id)
	if err != nil || st.State != executor.StateRunning {
		t.Fatalf("after restart: %+v %v", st, err)
	}
	var out bytes.Buffer
	if code, err := e.Exec(ctx, id, executor.ExecConfig{Cmd: []string{"echo", "after"}, Stdout: &out}); err != nil || code != 0 || out.String() != "after\n" {
		t.Fatalf("exec after restart: %d %v %q", code, err, out.String())
	}
	if err := e.Stop(ctx, id, 0); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(15 * time.Second)
	for got := false; !got; {
		select {
		case ev := <-events:
			got = ev.ID == id && ev.ExitCode == 137
		case <-deadline:
			t.Fatal("no exit event after the containerd restart")
		}
	}
	remove(t, e, id)
	if left, err := ctrd.Leftovers(ctx, cfg.Namespace); err != nil || len(left) > 0 {
		t.Errorf("left behind %v %v", left, err)
	}
}

func TestNetBoxLikeImageRunsADynamicBinary(t *testing.T) {
	ctx := testCtx(t)
	spec, err := ociimage.Busybox(ctx, testenv.BusyboxBinary)
	if err != nil {
		t.Fatal(err)
	}
	curl, err := ociimage.HostBinary("/usr/bin/curl", "/usr/bin/curl")
	if err != nil {
		t.Fatalf("curl from the host (apt-get install curl): %v", err)
	}
	spec.Files = append(spec.Files, curl...)
	if _, err := ociimage.BuildAndPush(ctx, env.reg.Host+"/xiaopeng163/net-box:latest", spec); err != nil {
		t.Fatal(err)
	}
	e := newExecutor(t)
	id := run(t, e, `curl --version | head -1`, func(s *executor.Spec) { s.Image = "xiaopeng163/net-box:latest" })
	if st := waitExited(t, e, id); st.ExitCode != 0 {
		t.Errorf("exit %d", st.ExitCode)
	}
	if out := exitedLogs(t, e, id, "curl "); !strings.HasPrefix(out, "curl ") {
		t.Errorf("curl --version: %q", out)
	}
	remove(t, e, id)
}

// logsTo collects the lines Logs hands over into b.
func logsTo(b *bytes.Buffer) func([]executor.LogEntry) error {
	return func(es []executor.LogEntry) error {
		for _, e := range es {
			b.Write(e.Line)
		}
		return nil
	}
}

// TestLogTimesAndStreams: the log writer stamps each line when it was
// written and keeps its stream, so since/until select by time and stderr
// stays stderr.
func TestLogTimesAndStreams(t *testing.T) {
	e := newExecutor(t)
	ctx := testCtx(t)
	before := time.Now()
	id := run(t, e, `echo early; echo oops >&2; sleep 1.5; echo late`)
	waitExited(t, e, id)
	exitedLogs(t, e, id, "late\n")
	var entries []executor.LogEntry
	if err := e.Logs(ctx, id, executor.LogsOptions{Tail: -1}, func(es []executor.LogEntry) error {
		entries = append(entries, es...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	at := map[string]executor.LogEntry{}
	for _, le := range entries {
		at[string(le.Line)] = le
	}
	early, oops, late := at["early\n"], at["oops\n"], at["late\n"]
	if len(entries) != 3 || early.Time.Before(before.Add(-time.Second)) || early.Stderr || !oops.Stderr || late.Stderr {
		t.Fatalf("entries %+v", entries)
	}
	if late.Time.Sub(early.Time) < time.Second {
		t.Fatalf("late was stamped %v after early; the script slept 1.5 s", late.Time.Sub(early.Time))
	}
	var b bytes.Buffer
	if err := e.Logs(ctx, id, executor.LogsOptions{Tail: -1, Since: late.Time}, logsTo(&b)); err != nil || b.String() != "late\n" {
		t.Fatalf("since late's time: %q %v", b.String(), err)
	}
	b.Reset()
	if err := e.Logs(ctx, id, executor.LogsOptions{Tail: -1, Until: early.Time}, logsTo(&b)); err != nil || !strings.Contains(b.String(), "early\n") || strings.Contains(b.String(), "late") {
		t.Fatalf("until early's time: %q %v", b.String(), err)
	}
	remove(t, e, id)
}
