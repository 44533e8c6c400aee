package container_test

import (
	"bufio"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minsw/minsw/cmd/minsw/internal/clitest"
)

func TestExecInteractiveTTY(t *testing.T) {
	master, slave := clitest.OpenPTY(t)
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 80}); err != nil {
		t.Fatal(err)
	}
	sock := clitest.Seed().Serve(t)

	var errb strings.Builder
	done := make(chan int, 1)
	go func() {
		done <- clitest.Exec([]string{"--host", sock, "container", "exec", "-it", "36dc", "winch"}, slave, slave, &errb)
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
	if clitest.Canonical(t, slave) {
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
	if !clitest.Canonical(t, slave) {
		t.Error("terminal left in raw mode")
	}
}
