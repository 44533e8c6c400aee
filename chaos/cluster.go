// Package chaos tries the control plane the way Jepsen tries a database:
// real `minsw daemon` processes (three managers on loopback, fake
// executor), clients that record every call and its outcome, faults
// (SIGKILL, SIGSTOP, restarts, partitions), and porcupine checking the
// recorded history for linearizability. It owns no production code: it
// drives the binary through its public doors (the local socket's gRPC API)
// and the operating system (signals, nftables).
package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/minsw/minsw/client"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Manager is one `minsw daemon` process of a Cluster.
type Manager struct {
	Index  int
	Name   string
	Dir    string
	Listen string // 127.0.0.1:port, also what it advertises
	Port   int
	// Gid is the group the process runs as: the partition rules pick its
	// packets by it (meta skgid), since all managers share 127.0.0.1.
	Gid int

	// Timings are the daemon's timing flags; nil: the chaos suite's short
	// ones (500 ms dispatcher and raft heartbeats), empty: the daemon's
	// defaults.
	Timings []string
	// KeepFakeTasks keeps the fake executor's containers across the
	// daemon's restarts (in its data dir), as containerd's outlive their
	// daemon; without it a restarted fake worker has lost every task.
	KeepFakeTasks bool

	bin     string
	cmd     *exec.Cmd
	done    chan struct{}
	paused  bool
	cl      *client.Client
	logFile *os.File
}

// Cluster is a set of managers on loopback.
type Cluster struct {
	Managers []*Manager
	// KeepWorkerTasks makes AddWorkers' workers KeepFakeTasks.
	KeepWorkerTasks bool
	bin             string
}

// NewCluster prepares n managers under dir (nothing runs yet). gidBase
// is the first of n group IDs the processes run as.
func NewCluster(bin, dir string, n, gidBase int) (*Cluster, error) {
	c := &Cluster{bin: bin}
	for i := 0; i < n; i++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		m := &Manager{Index: i, Name: fmt.Sprintf("m%d", i), Dir: filepath.Join(dir, fmt.Sprintf("m%d", i)),
			Port: port, Listen: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Gid: gidBase + i, bin: bin}
		c.Managers = append(c.Managers, m)
	}
	return c, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Socket is the manager's local API socket.
func (m *Manager) Socket() string { return filepath.Join(m.Dir, "run", "minsw.sock") }

// Running reports whether the process is up (paused counts as up).
func (m *Manager) Running() bool {
	if m.cmd == nil {
		return false
	}
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

// Start runs the daemon and waits for its socket.
func (m *Manager) Start(ctx context.Context) error {
	if m.Running() {
		return nil
	}
	if err := os.MkdirAll(m.Dir, 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(m.Dir, "daemon.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_ = os.Remove(m.Socket())
	timings := m.Timings
	if timings == nil {
		timings = []string{"--heartbeat-period", "500ms", "--raft-heartbeat", "500ms"}
	}
	args := append([]string{"daemon", "--executor", "fake", "--node-name", m.Name,
		"--data-root", filepath.Join(m.Dir, "data"), "--exec-root", filepath.Join(m.Dir, "run"),
		"--listen-addr", m.Listen, "--log-level", "warn"}, timings...)
	if m.KeepFakeTasks {
		args = append(args, "--fake-executor-state", filepath.Join(m.Dir, "data", "fake-executor.json"))
	}
	cmd := exec.Command(m.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Root keeps its capabilities; only the group differs, for nftables.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(os.Getuid()), Gid: uint32(m.Gid), NoSetGroups: true}}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	m.cmd, m.done, m.logFile, m.paused = cmd, done, logf, false
	for {
		if c, err := net.Dial("unix", m.Socket()); err == nil {
			c.Close()
			break
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited at start (see %s)", m.Name, filepath.Join(m.Dir, "daemon.log"))
		case <-ctx.Done():
			return fmt.Errorf("%s did not open its socket: %w", m.Name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// Signal sends sig to the daemon we started, by its PID.
func (m *Manager) Signal(sig syscall.Signal) error {
	if !m.Running() {
		return errors.New(m.Name + " is not running")
	}
	switch sig {
	case syscall.SIGSTOP:
		m.paused = true
	case syscall.SIGCONT:
		m.paused = false
	}
	return m.cmd.Process.Signal(sig)
}

// Kill ends the daemon with SIGKILL (a crash) and waits for it.
func (m *Manager) Kill() { m.end(syscall.SIGKILL) }

// Stop ends the daemon with SIGTERM (an orderly restart) and waits for it
// (SIGKILL after 20 s).
func (m *Manager) Stop() { m.end(syscall.SIGTERM) }

// StopTimed is Stop, saying how long the daemon took to exit and whether
// it had to be killed.
func (m *Manager) StopTimed() (took time.Duration, killed bool) {
	began := time.Now()
	killed = m.end(syscall.SIGTERM)
	return time.Since(began), killed
}

// end sends sig and waits for the exit; true when SIGKILL had to follow.
func (m *Manager) end(sig syscall.Signal) (killed bool) {
	if !m.Running() {
		return false
	}
	if m.paused {
		_ = m.cmd.Process.Signal(syscall.SIGCONT)
		m.paused = false
	}
	_ = m.cmd.Process.Signal(sig)
	select {
	case <-m.done:
	case <-time.After(20 * time.Second):
		_ = m.cmd.Process.Signal(syscall.SIGKILL)
		<-m.done
		killed = sig != syscall.SIGKILL
	}
	if m.logFile != nil {
		m.logFile.Close()
	}
	return killed
}

// Client is a client of the manager's local socket (one per manager, kept).
func (m *Manager) Client() (*client.Client, error) {
	if m.cl != nil {
		return m.cl, nil
	}
	cl, err := client.New(m.Socket())
	if err != nil {
		return nil, err
	}
	m.cl = cl
	return cl, nil
}

// Start starts every manager, inits the swarm on the first and joins the
// others as managers, then waits for all three to be reachable.
func (c *Cluster) Start(ctx context.Context) error {
	for _, m := range c.Managers {
		if err := m.Start(ctx); err != nil {
			return err
		}
	}
	first := c.Managers[0]
	cl, err := first.Client()
	if err != nil {
		return err
	}
	if _, err := cl.Swarm.Init(ctx, &api.InitRequest{AdvertiseAddr: first.Listen, ListenAddr: first.Listen}); err != nil {
		return fmt.Errorf("swarm init on %s: %w", first.Name, err)
	}
	var token string
	if err := retry(ctx, func() error {
		r, err := cl.Control.GetCluster(ctx, &api.GetClusterRequest{})
		if err != nil {
			return err
		}
		token = r.GetCluster().GetJoinTokens().GetManager()
		return nil
	}); err != nil {
		return err
	}
	for _, m := range c.Managers[1:] {
		mc, err := m.Client()
		if err != nil {
			return err
		}
		if err := retry(ctx, func() error {
			_, err := mc.Swarm.Join(ctx, &api.JoinRequest{RemoteAddrs: []string{first.Listen}, JoinToken: token, AdvertiseAddr: m.Listen, ListenAddr: m.Listen})
			return err
		}); err != nil {
			return fmt.Errorf("join %s: %w", m.Name, err)
		}
	}
	return c.WaitHealthy(ctx)
}

// WaitHealthy waits until a leader reports every running manager reachable.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	return retry(ctx, func() error {
		var want int
		for _, m := range c.Managers {
			if m.Running() {
				want++
			}
		}
		l, err := c.Leader(ctx)
		if err != nil {
			return err
		}
		cl, _ := l.Client()
		r, err := cl.Control.ListNodes(ctx, &api.ListNodesRequest{})
		if err != nil {
			return err
		}
		n := 0
		for _, nd := range r.GetNodes() {
			if nd.GetManagerStatus().GetReachability() == api.Reachability_REACHABILITY_REACHABLE {
				n++
			}
		}
		if n < want {
			return fmt.Errorf("%d of %d managers reachable", n, want)
		}
		return nil
	})
}

// Leader asks the running managers who leads and returns that manager.
func (c *Cluster) Leader(ctx context.Context) (*Manager, error) {
	var last error = errors.New("no manager running")
	for _, m := range c.Managers {
		if !m.Running() || m.paused {
			continue
		}
		cl, err := m.Client()
		if err != nil {
			return nil, err
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		r, err := cl.Control.ListNodes(cctx, &api.ListNodesRequest{})
		cancel()
		if err != nil {
			last = err
			continue
		}
		for _, nd := range r.GetNodes() {
			if nd.GetManagerStatus().GetLeader() {
				for _, lm := range c.Managers {
					if lm.Name == nd.GetDescription().GetHostname() {
						return lm, nil
					}
				}
			}
		}
		last = errors.New("no leader yet")
	}
	return nil, last
}

// Close stops every manager.
func (c *Cluster) Close() {
	for _, m := range c.Managers {
		m.Kill()
		if m.cl != nil {
			m.cl.Close()
			m.cl = nil
		}
	}
}

// retry runs fn until it succeeds or ctx ends, returning the last error.
func retry(ctx context.Context, fn func() error) error {
	for {
		err := fn()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
