package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Typed is one command typed at the container's shell prompt and what the
// terminal showed until the next prompt.
type Typed struct {
	Input    string
	Out      string
	TimedOut bool // no prompt came back in time; ^C was sent
}

// Session is an interactive `minsw container exec -it CONTAINER sh` driven
// through a pseudo-terminal, as a person at the keyboard would.
type Session struct {
	// Banner is what the terminal showed before the first prompt (busybox
	// sh greets with its version and "Enter 'help' ..."), as a user sees it.
	Banner string
	Prompt string  // the first prompt the shell showed ("/omd # ")
	Typed  []Typed // in order
	Screen string  // everything the terminal showed, escape sequences removed
	Code   int     // the exec's exit status; -1 if it was killed
	Err    error   // why the session could not start or went wrong
}

// ansi matches terminal escape sequences busybox's line editor emits.
var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r`)

// promptRE is busybox sh's prompt with the net-box PS1 (`\w # `) or the
// default root prompt ("# " / "/ # ").
var promptRE = regexp.MustCompile(`(^|\n)([^\n]*# )$`)

// ExecSession runs `minsw container exec -it container sh` on node n under a
// pty, types each of inputs at a prompt (waiting at most perCmd for the next
// prompt, then sending ^C), then exits the shell.
func (l *Lab) ExecSession(ctx context.Context, n Node, container string, perCmd time.Duration, inputs ...string) Session {
	return l.ShellSession(ctx, n, perCmd, []string{l.Minsw, "container", "exec", "-it", container, "sh"}, inputs...)
}

// ShellSession runs argv, an interactive shell, in node n's network
// namespace under a pty (as `sudo nsenter --net=... sh` in the seed), types
// each of inputs at a prompt (waiting at most perCmd for the next prompt,
// then sending ^C), then exits the shell.
func (l *Lab) ShellSession(ctx context.Context, n Node, perCmd time.Duration, argv []string, inputs ...string) Session {
	s := Session{Code: -1}
	master, slave, err := openPTY()
	if err != nil {
		s.Err = err
		return s
	}
	defer master.Close()
	_ = unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 120})
	cmd := exec.Command("nsenter", append([]string{"--net=" + NetnsPath(n)}, argv...)...)
	cmd.Env = l.env(n)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		slave.Close()
		s.Err = err
		return s
	}
	slave.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	var mu sync.Mutex
	var raw strings.Builder
	more := make(chan struct{}, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := master.Read(buf)
			if k > 0 {
				mu.Lock()
				raw.Write(buf[:k])
				mu.Unlock()
				select {
				case more <- struct{}{}:
				default:
				}
			}
			if err != nil {
				close(more)
				return
			}
		}
	}()
	screen := func() string {
		mu.Lock()
		defer mu.Unlock()
		return ansi.ReplaceAllString(raw.String(), "")
	}
	// waitPrompt waits until the screen, past offset from, ends with a
	// prompt; it returns the screen and whether the prompt came.
	waitPrompt := func(from int, limit time.Duration) (string, bool) {
		deadline := time.NewTimer(limit)
		defer deadline.Stop()
		for {
			sc := screen()
			if len(sc) > from && promptRE.MatchString(sc[from:]) {
				return sc, true
			}
			select {
			case _, ok := <-more:
				if !ok {
					return screen(), false
				}
			case <-deadline.C:
				return screen(), false
			case <-ctx.Done():
				return screen(), false
			}
		}
	}
	sc, ok := waitPrompt(0, 20*time.Second)
	if !ok {
		s.Err = fmt.Errorf("no shell prompt")
	} else {
		m := promptRE.FindStringSubmatchIndex(sc)
		s.Prompt = sc[m[4]:m[5]]
		s.Banner = strings.Trim(sc[:m[4]], "\n")
		for _, in := range inputs {
			from := len(sc)
			master.Write([]byte(in + "\n"))
			t := Typed{Input: in}
			sc, ok = waitPrompt(from+len(in), perCmd)
			if !ok {
				t.TimedOut = true
				master.Write([]byte{3}) // ^C
				sc, ok = waitPrompt(len(sc), 5*time.Second)
			}
			t.Out = commandOutput(sc[from:], in)
			s.Typed = append(s.Typed, t)
			if !ok {
				s.Err = fmt.Errorf("the shell stopped answering after %q", in)
				break
			}
		}
		master.Write([]byte("exit\n"))
	}
	select {
	case err := <-exited:
		s.Code = exitCode(err)
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
	// Drain what the terminal still had.
	time.Sleep(50 * time.Millisecond)
	s.Screen = screen()
	return s
}

// commandOutput is the text between the echoed command line and the next
// prompt.
func commandOutput(chunk, input string) string {
	if i := strings.Index(chunk, input); i >= 0 {
		chunk = chunk[i+len(input):]
	}
	chunk = strings.TrimPrefix(chunk, "\n")
	if m := promptRE.FindStringIndex(chunk); m != nil {
		chunk = chunk[:m[0]]
		if m[0] < len(chunk) {
			chunk = chunk[:m[0]]
		}
	}
	return strings.TrimSuffix(chunk, "\n") + "\n"
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok && ee.Exited() {
		return ee.ExitCode()
	}
	return -1
}

// openPTY opens a pseudo-terminal pair.
func openPTY() (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, err
	}
	k, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", k), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return m, s, nil
}
