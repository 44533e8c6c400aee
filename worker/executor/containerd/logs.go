package containerd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/containerd/containerd"

	"github.com/minsw/minsw/worker/executor"
	"github.com/minsw/minsw/worker/executor/logfile"
)

// Logs hands over the container's output, which the log writer (or, for
// a container made before it stamped lines, the shim) appends to one file
// per container, so it keeps growing while the agent is down. With Follow
// it goes on until the container's main process exits, Until passes or
// ctx ends.
func (e *Executor) Logs(ctx context.Context, id string, opts executor.LogsOptions, emit func([]executor.LogEntry) error) error {
	ctx = e.ns(ctx)
	ctr, err := e.load(ctx, id)
	if err != nil {
		return err
	}
	labels, err := ctr.Labels(ctx)
	if err != nil {
		return fmt.Errorf("logs of %s: %w", short(id), err)
	}
	dec := &logfile.Decoder{Records: labels[labelLogRecords] == "true", Filter: logfile.Filter{Since: opts.Since, Until: opts.Until}, Emit: emit}
	err = e.copyLogs(ctx, ctr, id, opts, dec)
	if errors.Is(err, logfile.ErrPast) {
		return nil
	}
	if err == nil {
		err = dec.Flush()
	}
	if errors.Is(err, logfile.ErrPast) {
		return nil
	}
	return err
}

// copyLogs copies the container's log file (and its rotated parts) to w,
// following it as Logs says.
func (e *Executor) copyLogs(ctx context.Context, ctr containerd.Container, id string, opts executor.LogsOptions, w io.Writer) error {
	var err error
	var exited <-chan containerd.ExitStatus
	if opts.Follow {
		if task, err := ctr.Task(ctx, nil); err == nil {
			if st, err := task.Status(ctx); err == nil && st.Status != containerd.Stopped {
				wctx, cancel := context.WithCancel(ctx)
				defer cancel()
				if exited, err = task.Wait(wctx); err != nil {
					exited = nil
				}
			}
		}
	}
	path := e.files(id).log()
	if opts.Follow && exited == nil {
		// Followed after the task's end: its log writer may still be
		// writing the last of it.
		waitWriterDone(path, rotationWait)
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) && len(rotatedLogs(path)) > 0 {
		// Between the log writer's rename of the full file and its
		// creation of the next one: look again (seen in CI as a follow
		// that copied nothing).
		f, err = openDuringRotation(ctx, path, e.cfg.LogPollInterval)
	}
	if errors.Is(err, fs.ErrNotExist) && exited != nil {
		// Not written yet: the task has not started.
		f, err = waitForFile(ctx, path, exited, e.cfg.LogPollInterval)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("logs of %s: %w", short(id), err)
	}
	defer func() { f.Close() }()
	if old := rotatedLogs(path); len(old) > 0 {
		// --log-opt max-file: the older parts come first.
		if err := writeWithRotated(w, old, f, opts.Tail); err != nil {
			return fmt.Errorf("logs of %s: %w", short(id), err)
		}
	} else if opts.Tail >= 0 {
		off, err := tailOffset(f, opts.Tail)
		if err != nil {
			return fmt.Errorf("logs of %s: %w", short(id), err)
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return fmt.Errorf("logs of %s: %w", short(id), err)
		}
	}
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("logs of %s: %w", short(id), err)
	}
	if exited == nil {
		return nil
	}
	t := time.NewTicker(e.cfg.LogPollInterval)
	defer t.Stop()
	var until <-chan time.Time
	if !opts.Until.IsZero() {
		ut := time.NewTimer(time.Until(opts.Until))
		defer ut.Stop()
		until = ut.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-until:
			f, err = followRotation(w, f, path)
			return err
		case <-exited:
			// The log writer is a process of its own: it may still be
			// writing (and rotating) the task's last output when the exit
			// is reported. Once it is done, copy the rest of this file and
			// every newer one.
			waitWriterDone(path, rotationWait)
			return copyNewer(w, f, path)
		case <-t.C:
			if f, err = followRotation(w, f, path); err != nil {
				return fmt.Errorf("logs of %s: %w", short(id), err)
			}
		}
	}
}

// copyNewer copies the rest of f, then every file of the log newer than f
// (rotated parts, oldest first, then path itself): the rotations since the
// follower's last look.
func copyNewer(w io.Writer, f *os.File, path string) error {
	if _, err := io.Copy(w, f); err != nil {
		return err
	}
	was, err := f.Stat()
	if err != nil {
		return err
	}
	files := append(rotatedLogs(path), path)
	newer := files
	for i, p := range files {
		if st, err := os.Stat(p); err == nil && os.SameFile(st, was) {
			newer = files[i+1:]
			break
		}
	}
	for _, p := range newer {
		nf, err := os.Open(p)
		if err != nil {
			continue // rotated out meanwhile
		}
		_, err = io.Copy(w, nf)
		nf.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// openDuringRotation opens path, which a rotation has just renamed away,
// once the log writer has made it again; it gives up after rotationWait,
// since a writer that has died makes no new file.
func openDuringRotation(ctx context.Context, path string, every time.Duration) (*os.File, error) {
	deadline := time.Now().Add(rotationWait)
	for {
		f, err := os.Open(path)
		if !errors.Is(err, fs.ErrNotExist) || time.Now().After(deadline) {
			return f, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(min(every, 10*time.Millisecond)):
		}
	}
}

// rotationWait bounds openDuringRotation: a rename and a create take
// microseconds, even on a loaded machine far less than this.
const rotationWait = 2 * time.Second

func waitForFile(ctx context.Context, path string, exited <-chan containerd.ExitStatus, every time.Duration) (*os.File, error) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		f, err := os.Open(path)
		if !errors.Is(err, fs.ErrNotExist) {
			return f, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-exited:
			return os.Open(path)
		case <-t.C:
		}
	}
}

// tailOffset is where the last n lines of f begin; a final line without a
// newline counts as a line.
func tailOffset(f *os.File, n int) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	if n == 0 {
		return size, nil
	}
	const chunk = 32 << 10
	buf := make([]byte, chunk)
	end := size
	// A trailing newline ends the last line rather than starting a new one.
	if size > 0 {
		if _, err := f.ReadAt(buf[:1], size-1); err != nil {
			return 0, err
		}
		if buf[0] == '\n' {
			end--
		}
	}
	seen := 0
	for pos := end; pos > 0; {
		start := max(pos-chunk, 0)
		b := buf[:pos-start]
		if _, err := f.ReadAt(b, start); err != nil && err != io.EOF {
			return 0, err
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] == '\n' {
				seen++
				if seen == n {
					return start + int64(i) + 1, nil
				}
			}
		}
		pos = start
	}
	return 0, nil
}
