package containerd

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/cio"

	"github.com/minsw/minsw/worker/executor/logfile"
)

// The log writer is the containerd logging binary of every container of a
// node that has one (the daemon's): it stamps each line with its time and
// stream (logfile records, as docker's json-file driver keeps them),
// rotates the log (--log-opt max-size/max-file) and serves terminals
// (--tty, which containerd's file logging cannot). The shim starts it with
// the container's stdout on fd 3, stderr on fd 4 and a pipe on fd 5 that it
// closes once ready; it lives as long as the task, so a daemon restart
// loses no output. The executor's binary (the minsw daemon itself) plays
// it when its arguments carry LogWriterFlag.
const (
	LogWriterFlag = "--minsw-log-writer"
	argMaxSize    = "--max-size"
	argMaxFile    = "--max-file"
	// argRecords makes it write logfile records: each line stamped with
	// its time and stream.
	argRecords = "--records"
)

// IsLogWriter reports whether a process was started as the log writer.
func IsLogWriter(args []string) bool {
	for _, a := range args {
		if a == LogWriterFlag {
			return true
		}
	}
	return false
}

// RunLogWriter is the log writer's main; args are the shim's, pairs of
// key and value in any order. It returns the exit status.
func RunLogWriter(args []string) int {
	opts := map[string]string{}
	for i := 0; i+1 < len(args); i += 2 {
		opts[args[i]] = args[i+1]
	}
	path := opts[LogWriterFlag]
	maxSize, _ := strconv.ParseInt(opts[argMaxSize], 10, 64)
	maxFile, _ := strconv.Atoi(opts[argMaxFile])
	// The writer holds its lock for as long as it lives: a follower that
	// sees the task exit waits for it to let go, then reads everything.
	lock, lerr := os.OpenFile(writerLock(path), os.O_CREATE|os.O_RDWR, 0o600)
	if lerr == nil {
		defer lock.Close()
		_ = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX)
	}
	w, err := openRotating(path, maxSize, maxFile)
	ready := os.NewFile(5, "ready")
	if err != nil {
		fmt.Fprintln(os.Stderr, "minsw log writer:", err)
		ready.Close()
		return 1
	}
	defer w.close()
	ready.Close()
	records := opts[argRecords] == "true"
	var wg sync.WaitGroup
	for _, fd := range []uintptr{3, 4} {
		f := os.NewFile(fd, "stdio")
		wg.Add(1)
		go func() {
			defer wg.Done()
			if records {
				copyRecords(w, f, fd == 4)
				return
			}
			_, _ = io.Copy(w, f)
		}()
	}
	wg.Wait()
	return 0
}

// copyRecords writes what r gives as records of one stream, each line
// stamped when it was read, until r ends.
func copyRecords(w io.Writer, r io.Reader, stderr bool) {
	cut := logfile.Cutter{Stderr: stderr}
	buf := make([]byte, 32<<10)
	var out []byte
	for {
		n, err := r.Read(buf)
		if out = cut.Write(out[:0], buf[:n]); len(out) > 0 {
			if _, werr := w.Write(out); werr != nil {
				return
			}
		}
		if err != nil {
			if out = cut.Flush(out[:0]); len(out) > 0 {
				_, _ = w.Write(out)
			}
			return
		}
	}
}

// rotating appends to path; when a write would take it past maxSize it
// becomes path.1 (path.1 becomes path.2, ...), keeping maxFile files in
// all, as docker's json-file driver does.
type rotating struct {
	mu      sync.Mutex
	path    string
	maxSize int64
	maxFile int
	f       *os.File
	size    int64
}

func openRotating(path string, maxSize int64, maxFile int) (*rotating, error) {
	if path == "" {
		return nil, fmt.Errorf("no log file given (%s)", LogWriterFlag)
	}
	r := &rotating{path: path, maxSize: maxSize, maxFile: max(maxFile, 1)}
	return r, r.open()
}

func (r *rotating) open() error {
	f, err := os.OpenFile(r.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	r.f, r.size = f, st.Size()
	return nil
}

// Write writes p line by line (a read from the pipe holds many lines), so
// a file rotates between lines, as docker's does between messages.
func (r *rotating) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	written := 0
	for len(p) > 0 {
		line := p
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			line = p[:i+1]
		}
		if r.maxSize > 0 && r.size > 0 && r.size+int64(len(line)) > r.maxSize {
			if err := r.rotate(); err != nil {
				return written, err
			}
		}
		n, err := r.f.Write(line)
		r.size += int64(n)
		written += n
		if err != nil {
			return written, err
		}
		p = p[len(line):]
	}
	return written, nil
}

func (r *rotating) rotate() error {
	r.f.Close()
	if r.maxFile > 1 {
		for i := r.maxFile - 1; i >= 1; i-- {
			_ = os.Rename(rotatedName(r.path, i), rotatedName(r.path, i+1))
		}
		_ = os.Remove(rotatedName(r.path, r.maxFile))
		if err := os.Rename(r.path, rotatedName(r.path, 1)); err != nil {
			return err
		}
	} else if err := os.Truncate(r.path, 0); err != nil {
		return err
	}
	return r.open()
}

func (r *rotating) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.f.Close()
}

func rotatedName(path string, i int) string { return path + "." + strconv.Itoa(i) }

// writerLock is the file the log writer of path holds locked while it runs.
func writerLock(path string) string { return path + ".writer" }

// waitWriterDone waits until the log writer of path has let go of its lock
// (it has written everything and exited), for at most d.
func waitWriterDone(path string, d time.Duration) {
	f, err := os.Open(writerLock(path))
	if err != nil {
		return // no writer of ours (a log written before it had a lock)
	}
	defer f.Close()
	deadline := time.Now().Add(d)
	for syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB) != nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// binaryLogIO hands the task's output to the log writer; Terminal says
// whether the task has a TTY (the shim then passes the console's output).
type binaryLogIO struct{ cfg cio.Config }

func (b *binaryLogIO) Config() cio.Config { return b.cfg }
func (b *binaryLogIO) Cancel()            {}
func (b *binaryLogIO) Wait()              {}
func (b *binaryLogIO) Close() error       { return nil }

func logWriterIO(binary, path string, maxSize int64, maxFile int, tty, records bool) cio.Creator {
	return func(string) (cio.IO, error) {
		q := url.Values{}
		q.Set(LogWriterFlag, path)
		if records {
			q.Set(argRecords, "true")
		}
		if maxSize > 0 {
			q.Set(argMaxSize, strconv.FormatInt(maxSize, 10))
		}
		if maxFile > 0 {
			q.Set(argMaxFile, strconv.Itoa(maxFile))
		}
		u := url.URL{Scheme: "binary", Path: binary, RawQuery: q.Encode()}
		return &binaryLogIO{cio.Config{Stdout: u.String(), Stderr: u.String(), Terminal: tty}}, nil
	}
}
