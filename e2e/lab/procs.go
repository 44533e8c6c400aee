package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/minsw/minsw/e2e/images"
	"github.com/minsw/minsw/internal/testenv"
)

// startContainerd runs the lab's one containerd (root namespace, own config,
// root, state and socket under <dir>/containerd). Every node's daemon uses
// it, each in its own containerd namespace minsw-<node>.
func (l *Lab) startContainerd(ctx context.Context) error {
	dir := l.containerdDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	c, err := testenv.StartContainerd(ctx, testenv.ContainerdOptions{Dir: dir, StartTimeout: 20 * time.Second})
	if err != nil {
		return err
	}
	l.State.ContainerdPid = c.Pid
	return l.writeState(l.State)
}

// startRegistry builds the whoami binary, then runs `labctl registry` in the
// registry namespace; it serves on <registry IP>:5000, pushes the two lab
// images to itself and writes a ready file.
func (l *Lab) startRegistry(ctx context.Context) error {
	dir := filepath.Join(l.Dir, "registry")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	whoami, err := images.BuildWhoami(ctx, l.Repo, dir)
	if err != nil {
		return err
	}
	ready := filepath.Join(dir, "ready")
	logPath := filepath.Join(dir, "registry.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command("nsenter", "--net="+NetnsPath(l.Registry), l.Labctl, "registry",
		"--addr", l.Registry.IP+":"+RegistryPort, "--whoami", whoami, "--ready", ready)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	l.State.RegistryPid = cmd.Process.Pid
	if err := l.writeState(l.State); err != nil {
		return err
	}
	deadline := time.After(60 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("registry exited: %s", tail(logPath, 20))
		case <-deadline:
			return fmt.Errorf("registry not ready after 60s: %s", tail(logPath, 20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// provision runs one step of provision.sh inside node n's network namespace
// with the node's settings, and returns its output.
func (l *Lab) provision(ctx context.Context, n Node, step string, args ...string) (string, error) {
	script := filepath.Join(l.Repo, "e2e", "lab", "provision.sh")
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + NetnsPath(n), script, step}, args...)...)
	cmd.Env = append(os.Environ(),
		"NODE_NAME="+n.Name,
		"NODE_IP="+n.IP,
		"MINSW_BIN="+l.Minsw,
		"DATA_ROOT="+l.DataRoot(n),
		"EXEC_ROOT="+l.ExecRoot(n),
		"CONTAINERD_SOCK="+l.ContainerdSock(),
		"REGISTRY_MIRROR="+l.registryURL(),
		"DAEMON_LOG="+l.DaemonLog(n),
		"DAEMON_PIDFILE="+l.DaemonPidfile(n),
		"DAEMON_EXTRA_FLAGS="+strings.Join(l.DaemonFlags, " "),
		"JOIN_FILE="+filepath.Join(l.Dir, "join"),
	)
	// The daemon started by start-daemon keeps the output pipes open: give
	// it files instead, so Run returns when the script does.
	out, err := os.CreateTemp(l.Dir, "provision-*.out")
	if err != nil {
		return "", err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	runErr := cmd.Run()
	b, _ := os.ReadFile(out.Name())
	if runErr != nil {
		return string(b), fmt.Errorf("provision.sh %s on %s: %w\n%s", step, n.Name, runErr, b)
	}
	return string(b), nil
}

// startDaemons starts one `minsw daemon` per node, all at once.
func (l *Lab) startDaemons(ctx context.Context) error {
	errc := make(chan error, len(l.Nodes))
	for _, n := range l.Nodes {
		go func() { errc <- l.StartDaemon(ctx, n) }()
	}
	var errs []error
	for range l.Nodes {
		errs = append(errs, <-errc)
	}
	return errors.Join(errs...)
}

// StartDaemon starts node n's daemon (provision.sh start-daemon) and waits
// for its socket.
func (l *Lab) StartDaemon(ctx context.Context, n Node) error {
	_, err := l.provision(ctx, n, "start-daemon")
	return err
}

// DaemonPid is the PID of node n's daemon, from its pidfile.
func (l *Lab) DaemonPid(n Node) (int, error) {
	return readPid(l.DaemonPidfile(n))
}

// initJoin runs `swarm init` on the manager and joins the other nodes with
// the join command it printed (provision.sh passes it through a file).
func (l *Lab) initJoin(ctx context.Context) error {
	m := l.Manager()
	out, err := l.provision(ctx, m, "init")
	fmt.Fprintf(l.Log, "\n[%s]$ minsw swarm init --advertise-addr %s\n%s", m.Name, m.IP, out)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(l.Dir, "join"))
	if err != nil {
		return err
	}
	f := strings.Fields(string(b))
	if len(f) != 6 || f[3] != "--token" {
		return fmt.Errorf("join command %q", b)
	}
	for _, n := range l.Nodes[1:] {
		out, err := l.provision(ctx, n, "join", f[4], f[5])
		fmt.Fprintf(l.Log, "[%s]$ minsw swarm join --token %s %s\n%s", n.Name, f[4], f[5], out)
		if err != nil {
			return err
		}
	}
	fmt.Fprintln(l.Log)
	return nil
}

// StopDaemon ends node n's daemon by its PID: SIGKILL when kill is true (a
// crash), else SIGTERM and, after 10 s, SIGKILL. It waits until it is gone.
func (l *Lab) StopDaemon(n Node, kill bool) error {
	pid, err := l.DaemonPid(n)
	if err != nil {
		return err
	}
	if err := stopPid(pid, l.Minsw, kill, 10*time.Second); err != nil {
		return fmt.Errorf("daemon %s: %w", n.Name, err)
	}
	return os.Remove(l.DaemonPidfile(n))
}

func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// alive says whether pid runs (a zombie does not) and, when want is not "",
// runs a command line containing want, so a recycled PID is left alone.
func alive(pid int, want string) bool {
	if pid <= 0 {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
		return false
	}
	if want == "" {
		return true
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return bytes.Contains(cmdline, []byte(want))
}

// stopPid ends pid (if it still runs what want names) and waits for it.
func stopPid(pid int, want string, kill bool, grace time.Duration) error {
	if !alive(pid, want) {
		return nil
	}
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	_ = syscall.Kill(pid, sig)
	deadline := time.Now().Add(grace)
	for alive(pid, want) {
		if time.Now().After(deadline) {
			if sig == syscall.SIGKILL {
				return fmt.Errorf("pid %d survives SIGKILL", pid)
			}
			sig = syscall.SIGKILL
			_ = syscall.Kill(pid, sig)
			deadline = time.Now().Add(5 * time.Second)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
