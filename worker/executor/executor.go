// Package executor declares what the worker agent needs from a container
// runtime, and nothing of how one works. The containerd implementation lives
// in executor/containerd; an in-memory fake in executor/fake serves the
// control plane's tests and single-node runs without containers.
package executor

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/minsw/minsw/worker/executor/logfile"
)

// Kinds of executor errors the agent reacts to differently.
var (
	ErrNotFound      = errors.New("no such container")
	ErrAlreadyExists = errors.New("container already exists")
	ErrImagePull     = errors.New("image pull failed")
)

// Spec is everything needed to create one task's container.
type Spec struct {
	ID        string   // container ID, 64 hex chars
	Name      string   // task name <service>.<slot>.<taskid>
	Image     string   // reference as the user gave it
	Command   []string // entrypoint override (empty: image's)
	Args      []string // args (empty: image's cmd)
	Env       []string // K=V
	Hostname  string   // container ID[:12] unless set
	NetnsPath string   // network namespace to join; "" = a new empty one
	// HostNetwork: NetnsPath is the node's own namespace (`--network
	// host`); /etc/resolv.conf is the node's as it is.
	HostNetwork bool
	DNS         []string          // nameservers for /etc/resolv.conf (127.0.0.11 on overlays)
	DNSSearch   []string          // search domains
	DNSOpts     []string          // options lines
	Hosts       []string          // extra "IP name..." lines for /etc/hosts
	Labels      map[string]string // minsw.task.id, minsw.service.id, ...
	Mounts      []Mount           // volumes, binds and tmpfs (storage.go)
	Files       []File            // secrets and configs, on a tmpfs (storage.go)
	Options     Options           // the rest of docker's container options
}

// State is a container's life stage as the executor sees it.
type State int

const (
	StateCreated State = iota
	StateRunning
	StateExited
)

func (s State) String() string {
	switch s {
	case StateCreated:
		return "created"
	case StateRunning:
		return "running"
	case StateExited:
		return "exited"
	}
	return "unknown"
}

// Status describes one container.
type Status struct {
	ID         string
	Name       string
	Image      string
	Command    []string
	Labels     map[string]string
	State      State
	Pid        uint32
	ExitCode   int
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
}

// ExecConfig is one process to run inside a running container.
type ExecConfig struct {
	Cmd    []string
	Env    []string
	TTY    bool
	Stdin  io.Reader // nil: no stdin
	Stdout io.Writer
	Stderr io.Writer // ignored with TTY
	// Resize, when non-nil, delivers terminal size changes (TTY only).
	Resize <-chan WindowSize
}

// WindowSize is a terminal size in characters.
type WindowSize struct{ Rows, Cols uint16 }

// LogsOptions selects which log lines Logs streams.
type LogsOptions struct {
	Follow bool
	Tail   int // <0: all
	// Since and Until keep the lines written in [Since, Until]; a zero
	// bound is open. A follow ends once Until has passed.
	Since, Until time.Time
}

// LogEntry is one line of a container's output with when it was written
// and on which stream (a zero Time: a log that keeps no times).
type LogEntry = logfile.Entry

// Event tells the agent that a container changed state on its own (exited).
type Event struct {
	ID       string
	State    State
	ExitCode int
	At       time.Time
}

// Executor runs task containers on this node.
type Executor interface {
	// Pull makes the image available locally; pulling an image that is
	// already present returns at once. Errors wrap ErrImagePull.
	Pull(ctx context.Context, image string) error
	// Create makes the container from spec without starting it. On error
	// nothing is left behind (no container, snapshot or task).
	Create(ctx context.Context, spec Spec) error
	Start(ctx context.Context, id string) error
	// Stop signals the process (SIGTERM, then SIGKILL after timeout) and
	// waits for it to exit.
	Stop(ctx context.Context, id string, timeout time.Duration) error
	// Remove deletes the container, its task and its snapshot.
	Remove(ctx context.Context, id string) error
	Inspect(ctx context.Context, id string) (Status, error)
	List(ctx context.Context) ([]Status, error)
	// Exec runs cfg in the container and returns the process's exit status.
	Exec(ctx context.Context, id string, cfg ExecConfig) (int, error)
	// Logs hands the container's output to emit, line by line in
	// batches (what one read of its log gave).
	Logs(ctx context.Context, id string, opts LogsOptions, emit func([]LogEntry) error) error
	// Events delivers state changes until ctx ends.
	Events(ctx context.Context) (<-chan Event, error)
	Close() error
}
