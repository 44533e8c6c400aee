package containerd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minsw/minsw/worker/executor"
)

// Exit codes a shell gives for a command it cannot run, returned with the
// error when an exec's command cannot start (as docker exec does).
const (
	exitCannotExecute = 126
	exitNotFound      = 127
)

// Exec runs cfg.Cmd in the running container, as its main process's user,
// with the container's environment plus cfg.Env, and returns its exit
// status. With TTY the process gets a terminal whose size follows
// cfg.Resize; a size already waiting on Resize is the initial one. If ctx
// ends first the process is killed.
func (e *Executor) Exec(ctx context.Context, id string, cfg executor.ExecConfig) (int, error) {
	ctx = e.ns(ctx)
	if len(cfg.Cmd) == 0 {
		return -1, errors.New("exec: no command")
	}
	ctr, err := e.load(ctx, id)
	if err != nil {
		return -1, err
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return -1, fmt.Errorf("container %s is not running", short(id))
		}
		return -1, fmt.Errorf("exec in %s: %w", short(id), err)
	}
	if st, err := task.Status(ctx); err != nil || st.Status != containerd.Running {
		return -1, fmt.Errorf("container %s is not running", short(id))
	}
	spec, err := ctr.Spec(ctx)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", short(id), err)
	}
	pspec := *spec.Process
	pspec.Args = cfg.Cmd
	pspec.Terminal = cfg.TTY
	pspec.Env = append(append([]string{}, pspec.Env...), cfg.Env...)
	if cfg.TTY && cfg.Resize != nil {
		select {
		case ws, ok := <-cfg.Resize:
			if ok {
				pspec.ConsoleSize = &specs.Box{Height: uint(ws.Rows), Width: uint(ws.Cols)}
			}
		default:
		}
	}

	stdout, stderr := cfg.Stdout, cfg.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil || cfg.TTY {
		stderr = io.Discard
	}
	started := make(chan struct{})
	var stdin io.Reader
	var proc containerd.Process
	if cfg.Stdin != nil {
		// The process sees EOF on stdin only when the shim closes its end,
		// which it does on CloseIO.
		stdin = &closeOnEOF{r: cfg.Stdin, onEOF: func() {
			<-started
			if proc != nil {
				_ = proc.CloseIO(context.WithoutCancel(ctx), containerd.WithStdinCloser)
			}
		}}
	}
	opts := []cio.Opt{cio.WithStreams(stdin, stdout, stderr), cio.WithFIFODir(filepath.Join(e.cfg.StateDir, "fifo"))}
	if cfg.TTY {
		opts = append(opts, cio.WithTerminal)
	}
	execID := "exec-" + randomHex(8)
	proc, err = task.Exec(ctx, execID, &pspec, cio.NewCreator(opts...))
	if err != nil {
		close(started)
		return -1, fmt.Errorf("exec in %s: %w", short(id), err)
	}
	defer func() {
		dctx, cancel := cleanupContext(ctx)
		defer cancel()
		if _, err := proc.Delete(dctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			e.log.Warn("delete exec process", "container", short(id), "exec", execID, "err", err)
		}
	}()
	exited, err := proc.Wait(ctx)
	if err != nil {
		close(started)
		return -1, fmt.Errorf("exec in %s: %w", short(id), err)
	}
	if err := proc.Start(ctx); err != nil {
		close(started)
		code := exitCannotExecute
		if containsNotFound(runtimeReason(err)) {
			code = exitNotFound
		}
		return code, fmt.Errorf("exec in %s: %s", short(id), runtimeReason(err))
	}
	close(started)

	var wg sync.WaitGroup
	done := make(chan struct{})
	if cfg.TTY && cfg.Resize != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case ws, ok := <-cfg.Resize:
					if !ok {
						return
					}
					if err := proc.Resize(ctx, uint32(ws.Cols), uint32(ws.Rows)); err != nil {
						e.log.Debug("resize exec terminal", "container", short(id), "err", err)
					}
				case <-done:
					return
				}
			}
		}()
	}
	defer func() { close(done); wg.Wait() }()

	select {
	case st := <-exited:
		// Output is copied to the end before the status is returned, unless
		// a process left in the background keeps the streams open.
		drained := make(chan struct{})
		go func() { proc.IO().Wait(); close(drained) }()
		select {
		case <-drained:
		case <-time.After(ioDrainTimeout):
			proc.IO().Cancel()
		}
		code, _, err := st.Result()
		if err != nil {
			return -1, fmt.Errorf("exec in %s: %w", short(id), err)
		}
		return int(code), nil
	case <-ctx.Done():
		_ = proc.Kill(context.WithoutCancel(ctx), syscall.SIGKILL)
		return -1, fmt.Errorf("exec in %s: %w", short(id), ctx.Err())
	}
}

func containsNotFound(s string) bool {
	return strings.Contains(s, "not found") || strings.Contains(s, "no such file")
}

// ioDrainTimeout bounds the wait for an exec's output after it exits.
const ioDrainTimeout = 2 * time.Second

// closeOnEOF calls onEOF once, in its own goroutine, when r is exhausted.
type closeOnEOF struct {
	r     io.Reader
	onEOF func()
	once  sync.Once
}

func (c *closeOnEOF) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil {
		c.once.Do(func() { go c.onEOF() })
	}
	return n, err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
