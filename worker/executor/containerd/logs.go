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
	f, err := os.Open(path)
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
			// The shim has written everything by the time it reports the
			// exit. The log may have been rotated since the last look:
			// go on to the newest file and copy it too.
			for {
				nf, err := followRotation(w, f, path)
				if err != nil || nf == f {
					return err
				}
				f = nf
			}
		case <-t.C:
			if f, err = followRotation(w, f, path); err != nil {
				return fmt.Errorf("logs of %s: %w", short(id), err)
			}
		}
	}
}

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
