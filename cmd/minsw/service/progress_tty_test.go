package service_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minsw/minsw/cmd/minsw/internal/clitest"
)

func TestServiceCreateProgressTTY(t *testing.T) {
	master, slave := clitest.OpenPTY(t)
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 120}); err != nil {
		t.Fatal(err)
	}
	sock := clitest.Seed().Serve(t)
	t.Setenv("MINSW_VERIFY_SECONDS", "1")

	var errb strings.Builder
	done := make(chan int, 1)
	go func() {
		done <- clitest.Exec([]string{"--host", sock, "service", "create", "--name", "client", "--replicas", "2", "busybox"}, strings.NewReader(""), slave, &errb)
	}()
	// The reader keeps draining the terminal after it has seen the last
	// line: a CLI still drawing into a full pty buffer would block forever.
	var mu sync.Mutex
	var screen strings.Builder
	readDone := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		seen := false
		for {
			n, err := master.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			converged := strings.Contains(screen.String(), "verify: Service converged")
			mu.Unlock()
			if !seen && (err != nil || converged) {
				seen = true
				close(readDone)
			}
			if err != nil {
				return
			}
		}
	}()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("service create did not end; terminal: %q", screen.String())
	}
	select {
	case <-readDone:
	case <-time.After(5 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("no converged line on the terminal: %q", screen.String())
	}
	mu.Lock()
	out := strings.ReplaceAll(screen.String(), "\r", "")
	mu.Unlock()
	last := out[strings.LastIndex(out, "\x1b[J")+3:]
	want := "overall progress: 2 out of 2 tasks\n" +
		"1/2: running   [==================================================>]\n" +
		"2/2: running   [==================================================>]\n" +
		"verify: Service converged\n"
	if last != want {
		t.Errorf("last frame:\n%q\nwant\n%q", last, want)
	}
	for _, frame := range []string{"verify: Waiting 1 seconds to verify that tasks are stable..."} {
		if !strings.Contains(out, frame) {
			t.Errorf("never drawn: %q", frame)
		}
	}
}
