// Package fake is an in-memory executor.Executor: containers are records in
// a map, Create and Start succeed at once, and the image reference picks
// the behaviour a test wants. It serves the agent's and the control plane's
// tests and single-node runs without containers; it must never touch the
// host (no processes, files or namespaces).
//
// Behaviour by image reference (substrings, checked in this order):
//
//	"missing"   Pull fails: "No such image: <ref>" (wraps executor.ErrImagePull)
//	"badcmd"    Start fails: "exec: \"<cmd>\": executable file not found in $PATH"
//	"exit<N>"   the container exits with code N right after Start
//	anything else runs until Stop, Remove or Exit.
//
// Hooks override any of this per call.
package fake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minsw/minsw/worker/executor"
	"github.com/minsw/minsw/worker/executor/logfile"
)

// Hooks let a test change one operation's outcome. A hook returning a
// non-nil error makes the operation fail with it before any change is made;
// a hook may also block (honouring ctx) to simulate a slow runtime.
type Hooks struct {
	Pull   func(ctx context.Context, image string) error
	Create func(ctx context.Context, spec executor.Spec) error
	Start  func(ctx context.Context, id string) error
	Stop   func(ctx context.Context, id string) error
}

// Counts tallies calls that changed something, so tests can assert "pulled
// once", "no duplicate creates".
type Counts struct {
	Pulls, Creates, Starts, Stops, Removes int
}

// Executor is the in-memory executor. The zero value is not usable: call New.
type Executor struct {
	// Hooks may be set before first use.
	Hooks Hooks
	// Now gives timestamps (time.Now when nil); set before first use.
	Now func() time.Time

	mu         sync.Mutex
	containers map[string]*container
	images     map[string]bool
	counts     Counts
	subs       map[*subscriber]struct{}
}

type container struct {
	status executor.Status
	spec   executor.Spec
	// logs holds records (logfile's format) as the containerd executor's
	// log writer makes them; out and errs cut the two streams.
	logs      bytes.Buffer
	out, errs logfile.Cutter
	// changed is closed and replaced whenever logs grow or the state changes,
	// so followers can wait without polling.
	changed chan struct{}
}

// New returns an empty executor with no images and no containers.
func New() *Executor {
	return &Executor{
		containers: map[string]*container{},
		images:     map[string]bool{},
		subs:       map[*subscriber]struct{}{},
	}
}

var _ executor.Executor = (*Executor)(nil)

func (e *Executor) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Counts returns the tallies so far.
func (e *Executor) Counts() Counts {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.counts
}

// pullError carries the registry-style reason as its message and matches
// executor.ErrImagePull, like the containerd executor's.
type pullError struct{ reason string }

func (p *pullError) Error() string { return p.reason }
func (p *pullError) Unwrap() error { return executor.ErrImagePull }

// Pull records the image as present; an image reference containing
// "missing" fails as a registry's 404 would.
func (e *Executor) Pull(ctx context.Context, image string) error {
	if h := e.Hooks.Pull; h != nil {
		if err := h(ctx, image); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if strings.Contains(image, "missing") {
		return &pullError{reason: "No such image: " + image}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.images[image] {
		e.images[image] = true
		e.counts.Pulls++
	}
	return nil
}

// Create records the container in state created. The image must have been
// pulled.
func (e *Executor) Create(ctx context.Context, spec executor.Spec) error {
	if h := e.Hooks.Create; h != nil {
		if err := h(ctx, spec); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(spec.ID) != 64 {
		return fmt.Errorf("create container: id %q is not 64 hex characters", spec.ID)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.containers[spec.ID]; ok {
		return fmt.Errorf("%w: %s", executor.ErrAlreadyExists, spec.ID)
	}
	if !e.images[spec.Image] {
		return fmt.Errorf("create container %s: image %s not present: pull it first", spec.ID[:12], spec.Image)
	}
	labels := make(map[string]string, len(spec.Labels))
	for k, v := range spec.Labels {
		labels[k] = v
	}
	cmd := append(append([]string(nil), spec.Command...), spec.Args...)
	if len(cmd) == 0 {
		cmd = []string{"/fake"}
	}
	e.containers[spec.ID] = &container{
		spec:    spec,
		changed: make(chan struct{}),
		status: executor.Status{
			ID: spec.ID, Name: spec.Name, Image: spec.Image, Command: cmd,
			Labels: labels, State: executor.StateCreated, CreatedAt: e.now(),
		},
	}
	e.counts.Creates++
	return nil
}

// Start runs the container; with an "exit<N>" image it exits with N at once
// (and an event says so). Starting a running container does nothing.
func (e *Executor) Start(ctx context.Context, id string) error {
	if h := e.Hooks.Start; h != nil {
		if err := h(ctx, id); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.containers[id]
	if !ok {
		return fmt.Errorf("%w: %s", executor.ErrNotFound, id)
	}
	if c.status.State == executor.StateRunning {
		return nil
	}
	if strings.Contains(c.spec.Image, "badcmd") {
		return fmt.Errorf("start container %s: exec: %q: executable file not found in $PATH", id[:12], c.status.Command[0])
	}
	now := e.now()
	c.status.State = executor.StateRunning
	c.status.Pid = uint32(1000 + e.counts.Starts)
	c.status.StartedAt = now
	c.status.FinishedAt = time.Time{}
	c.status.ExitCode = 0
	e.counts.Starts++
	c.writeLocked(e, "started "+c.spec.Name+"\n", false)
	e.signal(c)
	if code, ok := exitCode(c.spec.Image); ok {
		e.exitLocked(c, code)
	}
	return nil
}

// exitCode parses the N of "exit<N>" in an image reference.
func exitCode(image string) (int, bool) {
	i := strings.Index(image, "exit")
	if i < 0 {
		return 0, false
	}
	digits := image[i+4:]
	n := 0
	for n < len(digits) && digits[n] >= '0' && digits[n] <= '9' {
		n++
	}
	if n == 0 {
		return 0, false
	}
	code, err := strconv.Atoi(digits[:n])
	if err != nil {
		return 0, false
	}
	return code, true
}

// Exit makes a running container exit with code, as if its process ended.
func (e *Executor) Exit(id string, code int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.containers[id]
	if !ok {
		return fmt.Errorf("%w: %s", executor.ErrNotFound, id)
	}
	if c.status.State != executor.StateRunning {
		return fmt.Errorf("container %s is not running", id[:12])
	}
	e.exitLocked(c, code)
	return nil
}

func (e *Executor) exitLocked(c *container, code int) {
	c.status.State = executor.StateExited
	c.status.ExitCode = code
	c.status.Pid = 0
	c.status.FinishedAt = e.now()
	e.signal(c)
	e.publish(executor.Event{ID: c.status.ID, State: executor.StateExited, ExitCode: code, At: c.status.FinishedAt})
}

func (e *Executor) signal(c *container) {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Stop ends a running container with exit code 143 (SIGTERM); the timeout
// is not waited for. Stopping a stopped container does nothing.
func (e *Executor) Stop(ctx context.Context, id string, timeout time.Duration) error {
	if h := e.Hooks.Stop; h != nil {
		if err := h(ctx, id); err != nil {
			return err
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.containers[id]
	if !ok {
		return fmt.Errorf("%w: %s", executor.ErrNotFound, id)
	}
	if c.status.State != executor.StateRunning {
		return nil
	}
	e.counts.Stops++
	e.exitLocked(c, 143)
	return nil
}

// Remove deletes the container, killing it if it runs.
func (e *Executor) Remove(ctx context.Context, id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.containers[id]
	if !ok {
		return fmt.Errorf("%w: %s", executor.ErrNotFound, id)
	}
	if c.status.State == executor.StateRunning {
		e.exitLocked(c, 137)
	}
	delete(e.containers, id)
	e.counts.Removes++
	e.signal(c)
	return nil
}

func cloneStatus(s executor.Status) executor.Status {
	labels := make(map[string]string, len(s.Labels))
	for k, v := range s.Labels {
		labels[k] = v
	}
	s.Labels = labels
	s.Command = append([]string(nil), s.Command...)
	return s
}

// Inspect describes one container.
func (e *Executor) Inspect(ctx context.Context, id string) (executor.Status, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.containers[id]
	if !ok {
		return executor.Status{}, fmt.Errorf("%w: %s", executor.ErrNotFound, id)
	}
	return cloneStatus(c.status), nil
}

// Spec returns the spec a container was created from (for assertions).
func (e *Executor) Spec(id string) (executor.Spec, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.containers[id]
	if !ok {
		return executor.Spec{}, false
	}
	return c.spec, true
}

// List describes every container, sorted by ID.
func (e *Executor) List(ctx context.Context) ([]executor.Status, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]executor.Status, 0, len(e.containers))
	for _, c := range e.containers {
		out = append(out, cloneStatus(c.status))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Exec writes its command line, space-joined, to stdout and returns 0; a
// command "exit N" returns N. The container must be running.
func (e *Executor) Exec(ctx context.Context, id string, cfg executor.ExecConfig) (int, error) {
	e.mu.Lock()
	c, ok := e.containers[id]
	running := ok && c.status.State == executor.StateRunning
	e.mu.Unlock()
	if !ok {
		return 0, fmt.Errorf("%w: %s", executor.ErrNotFound, id)
	}
	if !running {
		return 0, fmt.Errorf("container %s is not running", id[:12])
	}
	if len(cfg.Cmd) == 2 && cfg.Cmd[0] == "exit" {
		code, err := strconv.Atoi(cfg.Cmd[1])
		if err == nil {
			return code, nil
		}
	}
	if cfg.Stdout != nil {
		if _, err := io.WriteString(cfg.Stdout, strings.Join(cfg.Cmd, " ")+"\n"); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// WriteLog appends s to a container's output, as if its process printed it.
func (e *Executor) WriteLog(id, s string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.containers[id]
	if !ok {
		return fmt.Errorf("%w: %s", executor.ErrNotFound, id)
	}
	c.writeLocked(e, s, false)
	e.signal(c)
	return nil
}

// WriteErrLog appends s to a container's standard error.
func (e *Executor) WriteErrLog(id, s string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.containers[id]
	if !ok {
		return fmt.Errorf("%w: %s", executor.ErrNotFound, id)
	}
	c.writeLocked(e, s, true)
	e.signal(c)
	return nil
}

// writeLocked appends s's records, stamped by the executor's clock.
func (c *container) writeLocked(e *Executor, s string, stderr bool) {
	cut := &c.out
	if stderr {
		cut = &c.errs
	}
	cut.Stderr, cut.Now = stderr, e.now
	c.logs.Write(cut.Write(nil, []byte(s)))
}

// Logs writes the container's output; with Follow it keeps writing new
// output until the container stops running or ctx ends.
func (e *Executor) Logs(ctx context.Context, id string, opts executor.LogsOptions, emit func([]executor.LogEntry) error) error {
	e.mu.Lock()
	c, ok := e.containers[id]
	if !ok {
		e.mu.Unlock()
		return fmt.Errorf("%w: %s", executor.ErrNotFound, id)
	}
	data := append([]byte(nil), c.logs.Bytes()...)
	off := len(data)
	running := c.status.State == executor.StateRunning
	changed := c.changed
	e.mu.Unlock()

	dec := &logfile.Decoder{Records: true, Filter: logfile.Filter{Since: opts.Since, Until: opts.Until}, Emit: emit}
	if _, err := dec.Write(tail(data, opts.Tail)); err != nil {
		if errors.Is(err, logfile.ErrPast) {
			return nil
		}
		return err
	}
	var until <-chan time.Time
	if opts.Follow && !opts.Until.IsZero() {
		t := time.NewTimer(time.Until(opts.Until))
		defer t.Stop()
		until = t.C
	}
	for opts.Follow && running {
		select {
		case <-ctx.Done():
			return nil
		case <-until:
			return nil
		case <-changed:
		}
		e.mu.Lock()
		cur, ok := e.containers[id]
		if !ok || cur != c {
			e.mu.Unlock()
			return nil
		}
		more := append([]byte(nil), c.logs.Bytes()[off:]...)
		off += len(more)
		running = c.status.State == executor.StateRunning
		changed = c.changed
		e.mu.Unlock()
		if _, err := dec.Write(more); err != nil {
			if errors.Is(err, logfile.ErrPast) {
				return nil
			}
			return err
		}
	}
	return nil
}

// tail returns the last n lines of data (all when n < 0).
func tail(data []byte, n int) []byte {
	if n < 0 {
		return data
	}
	if n == 0 {
		return nil
	}
	end := len(data)
	if end > 0 && data[end-1] == '\n' {
		end--
	}
	for i := end - 1; i >= 0; i-- {
		if data[i] == '\n' {
			n--
			if n == 0 {
				return data[i+1:]
			}
		}
	}
	return data
}

// subscriber queues events without bound so a slow reader never blocks
// the executor; its goroutine ends with the subscription's context.
type subscriber struct {
	mu    sync.Mutex
	queue []executor.Event
	kick  chan struct{}
}

// Events delivers exits (and nothing else) until ctx ends; the channel is
// then closed.
func (e *Executor) Events(ctx context.Context) (<-chan executor.Event, error) {
	s := &subscriber{kick: make(chan struct{}, 1)}
	e.mu.Lock()
	e.subs[s] = struct{}{}
	e.mu.Unlock()
	out := make(chan executor.Event)
	go func() {
		defer close(out)
		defer func() {
			e.mu.Lock()
			delete(e.subs, s)
			e.mu.Unlock()
		}()
		for {
			s.mu.Lock()
			q := s.queue
			s.queue = nil
			s.mu.Unlock()
			for _, ev := range q {
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-s.kick:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// publish must be called with e.mu held.
func (e *Executor) publish(ev executor.Event) {
	for s := range e.subs {
		s.mu.Lock()
		s.queue = append(s.queue, ev)
		s.mu.Unlock()
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// Close does nothing: the containers stay, as a real runtime's do, so a
// restarted agent can adopt them from the same instance.
func (e *Executor) Close() error { return nil }
