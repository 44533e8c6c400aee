package fake

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/minsw/minsw/worker/executor"
)

const id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func run(t *testing.T, e *Executor, image string) {
	t.Helper()
	ctx := context.Background()
	if err := e.Pull(ctx, image); err != nil {
		t.Fatal(err)
	}
	if err := e.Create(ctx, executor.Spec{ID: id, Name: "web.1.x", Image: image}); err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
}

func TestMissingImageFailsPull(t *testing.T) {
	err := New().Pull(context.Background(), "missing/img")
	if !errors.Is(err, executor.ErrImagePull) || err.Error() != "No such image: missing/img" {
		t.Fatalf("got %v", err)
	}
}

func TestRunsUntilStopped(t *testing.T) {
	e := New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	evs, err := e.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	run(t, e, "containous/whoami")
	st, _ := e.Inspect(ctx, id)
	if st.State != executor.StateRunning {
		t.Fatalf("state %v", st.State)
	}
	if err := e.Create(ctx, executor.Spec{ID: id, Image: "containous/whoami"}); !errors.Is(err, executor.ErrAlreadyExists) {
		t.Fatalf("second create: %v", err)
	}
	if err := e.Stop(ctx, id, time.Second); err != nil {
		t.Fatal(err)
	}
	ev := <-evs
	if ev.ID != id || ev.State != executor.StateExited || ev.ExitCode != 143 {
		t.Fatalf("event %+v", ev)
	}
	if err := e.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Inspect(ctx, id); !errors.Is(err, executor.ErrNotFound) {
		t.Fatalf("inspect removed: %v", err)
	}
	if c := e.Counts(); c != (Counts{Pulls: 1, Creates: 1, Starts: 1, Stops: 1, Removes: 1}) {
		t.Fatalf("counts %+v", c)
	}
}

func TestExit1ImageExitsAfterStart(t *testing.T) {
	e := New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	evs, _ := e.Events(ctx)
	run(t, e, "busybox-exit1")
	if ev := <-evs; ev.ExitCode != 1 {
		t.Fatalf("event %+v", ev)
	}
	if st, _ := e.Inspect(ctx, id); st.State != executor.StateExited || st.ExitCode != 1 {
		t.Fatalf("status %+v", st)
	}
}

func TestExecAndLogs(t *testing.T) {
	e := New()
	run(t, e, "net-box")
	ctx := context.Background()
	var out bytes.Buffer
	code, err := e.Exec(ctx, id, executor.ExecConfig{Cmd: []string{"echo", "hi"}, Stdout: &out})
	if err != nil || code != 0 || out.String() != "echo hi\n" {
		t.Fatalf("exec: %d %v %q", code, err, out.String())
	}
	if code, _ := e.Exec(ctx, id, executor.ExecConfig{Cmd: []string{"exit", "3"}}); code != 3 {
		t.Fatalf("exit code %d", code)
	}
	_ = e.WriteLog(id, "a\nb\nc\n")
	if got := readLogs(t, e, executor.LogsOptions{Tail: 2}); got != "b\nc\n" {
		t.Fatalf("logs --tail 2: %q", got)
	}
	// Follow ends when the container stops.
	done := make(chan error, 1)
	pr := &syncBuf{}
	go func() {
		done <- e.Logs(ctx, id, executor.LogsOptions{Follow: true, Tail: -1}, func(es []executor.LogEntry) error {
			for _, le := range es {
				pr.Write(le.Line)
			}
			return nil
		})
	}()
	_ = e.WriteLog(id, "d\n")
	_ = e.Stop(ctx, id, 0)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not end")
	}
	if !strings.Contains(pr.String(), "d\n") {
		t.Fatalf("followed %q", pr.String())
	}
}

// readLogs reads a container's log, stderr lines marked with "!".
func readLogs(t *testing.T, e *Executor, o executor.LogsOptions) string {
	t.Helper()
	var b strings.Builder
	err := e.Logs(context.Background(), id, o, func(es []executor.LogEntry) error {
		for _, le := range es {
			if le.Stderr {
				b.WriteByte('!')
			}
			b.Write(le.Line)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestLogTimesAndStreams(t *testing.T) {
	e := New()
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	now := t0
	e.Now = func() time.Time { return now }
	run(t, e, "net-box")
	now = t0.Add(time.Minute)
	_ = e.WriteLog(id, "out\n")
	now = t0.Add(2 * time.Minute)
	_ = e.WriteErrLog(id, "err\n")
	var times []time.Time
	_ = e.Logs(context.Background(), id, executor.LogsOptions{Tail: -1}, func(es []executor.LogEntry) error {
		for _, le := range es {
			times = append(times, le.Time)
		}
		return nil
	})
	if len(times) != 3 || !times[0].Equal(t0) || !times[2].Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("times %v", times)
	}
	for _, tc := range []struct {
		name string
		o    executor.LogsOptions
		want string
	}{
		{"all", executor.LogsOptions{Tail: -1}, "started web.1.x\nout\n!err\n"},
		{"since a minute in", executor.LogsOptions{Tail: -1, Since: t0.Add(time.Minute)}, "out\n!err\n"},
		{"until a minute in", executor.LogsOptions{Tail: -1, Until: t0.Add(time.Minute)}, "started web.1.x\nout\n"},
		{"tail then since", executor.LogsOptions{Tail: 1, Since: t0.Add(time.Minute)}, "!err\n"},
	} {
		if got := readLogs(t, e, tc.o); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

type syncBuf struct {
	bytes.Buffer
}
