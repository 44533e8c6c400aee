package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair, so exec sees a real terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

func canonical(t *testing.T, f *os.File) bool {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return tio.Lflag&unix.ICANON != 0
}

func TestExecInteractiveTTY(t *testing.T) {
	master, slave := openPTY(t)
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 80}); err != nil {
		t.Fatal(err)
	}
	sock := seedDaemon().serve(t)

	var errb strings.Builder
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"--host", sock, "container", "exec", "-it", "36dc", "winch"}, slave, slave, &errb)
	}()
	lines := bufio.NewReader(master)
	expect := func(want string) {
		t.Helper()
		deadline := time.AfterFunc(5*time.Second, func() { master.Close() })
		defer deadline.Stop()
		for {
			l, err := lines.ReadString('\n')
			if err != nil {
				t.Fatalf("waiting for %q: %v", want, err)
			}
			if strings.TrimRight(l, "\r\n") == want {
				return
			}
		}
	}

	expect("start rows=24 cols=80 tty=true stdin=true")
	if canonical(t, slave) {
		t.Error("terminal not in raw mode during exec -it")
	}
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 100}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGWINCH); err != nil {
		t.Fatal(err)
	}
	expect("resize rows=40 cols=100")
	if _, err := master.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 7 {
			t.Errorf("exit status %d, want the process's 7 (stderr %q)", code, errb.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("exec did not end")
	}
	if !canonical(t, slave) {
		t.Error("terminal left in raw mode")
	}
}

func TestServiceCreateProgressTTY(t *testing.T) {
	master, slave := openPTY(t)
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 120}); err != nil {
		t.Fatal(err)
	}
	sock := seedDaemon().serve(t)
	t.Setenv("MINSW_VERIFY_SECONDS", "1")

	var errb strings.Builder
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"--host", sock, "service", "create", "--name", "client", "--replicas", "2", "busybox"}, strings.NewReader(""), slave, &errb)
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
