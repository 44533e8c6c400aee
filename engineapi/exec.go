package engineapi

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Exec as docker does it: create (remember the command), start (hijack the
// HTTP connection: raw bytes both ways with a TTY, docker's multiplexed
// stream without), resize while it runs, inspect for the exit code. The
// process runs through the local Containers.Exec stream, as `minsw
// container exec` does.

// execKeep is how long a finished exec stays inspectable.
const execKeep = 10 * time.Minute

type execSession struct {
	id        string
	container string
	opts      container.ExecOptions

	mu       sync.Mutex
	started  bool
	running  bool
	exitCode int
	ended    time.Time
	send     func(*api.ExecRequest) error // while running
	size     *api.ExecResize              // asked before start
}

type execStore struct {
	mu    sync.Mutex
	execs map[string]*execSession
}

func (st *execStore) add(e *execSession) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.execs == nil {
		st.execs = map[string]*execSession{}
	}
	now := time.Now()
	for id, old := range st.execs {
		old.mu.Lock()
		stale := !old.ended.IsZero() && now.Sub(old.ended) > execKeep
		old.mu.Unlock()
		if stale {
			delete(st.execs, id)
		}
	}
	st.execs[e.id] = e
}

func (st *execStore) get(id string) (*execSession, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if e, ok := st.execs[id]; ok {
		return e, nil
	}
	return nil, errdefs.NotFound("No such exec instance: %s", id)
}

func newExecID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Server) execCreate(w http.ResponseWriter, r *http.Request) error {
	var opts container.ExecOptions
	if err := decode(r, &opts); err != nil {
		return err
	}
	if len(opts.Cmd) == 0 {
		return errdefs.InvalidArgument("No exec command specified")
	}
	switch {
	case opts.User != "":
		return errdefs.Unimplemented("minsw does not support exec as another user (--user)")
	case opts.Privileged:
		return errdefs.Unimplemented("minsw does not support privileged exec (--privileged)")
	case opts.WorkingDir != "":
		return errdefs.Unimplemented("minsw does not support an exec working directory (--workdir)")
	}
	c, err := s.b.Containers.InspectContainer(r.Context(), &api.InspectContainerRequest{Ref: r.PathValue("id")})
	if err != nil {
		return err
	}
	if c.GetContainer().GetState() != "running" {
		return errdefs.Conflict("container %s is not running", c.GetContainer().GetId())
	}
	e := &execSession{id: newExecID(), container: c.GetContainer().GetId(), opts: opts}
	s.execs.add(e)
	return writeJSON(w, http.StatusCreated, container.ExecCreateResponse{ID: e.id})
}

func (s *Server) execInspect(w http.ResponseWriter, r *http.Request) error {
	e, err := s.execs.get(r.PathValue("id"))
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return writeJSON(w, http.StatusOK, container.ExecInspect{ExecID: e.id, ContainerID: e.container, Running: e.running, ExitCode: e.exitCode})
}

func (s *Server) execResize(w http.ResponseWriter, r *http.Request) error {
	e, err := s.execs.get(r.PathValue("id"))
	if err != nil {
		return err
	}
	h, err := uintValue(r, "h")
	if err != nil {
		return err
	}
	wd, err := uintValue(r, "w")
	if err != nil {
		return err
	}
	size := &api.ExecResize{Rows: uint32(h), Cols: uint32(wd)}
	e.mu.Lock()
	send := e.send
	if send == nil {
		e.size = size
	}
	e.mu.Unlock()
	if send != nil {
		if err := send(&api.ExecRequest{Resize: size}); err != nil {
			return errdefs.Conflict("exec %s is not running", e.id)
		}
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// execStart runs the exec on the hijacked connection until the process
// exits or the client goes away.
func (s *Server) execStart(w http.ResponseWriter, r *http.Request) error {
	e, err := s.execs.get(r.PathValue("id"))
	if err != nil {
		return err
	}
	var start container.ExecStartOptions
	if err := decode(r, &start); err != nil {
		return err
	}
	if start.Detach {
		return errdefs.Unimplemented("minsw does not run detached execs (docker exec --detach)")
	}
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return errdefs.Conflict("exec %s has already been started", e.id)
	}
	e.started, e.running = true, true
	e.mu.Unlock()
	ended := func(code int) {
		e.mu.Lock()
		e.running, e.exitCode, e.ended, e.send = false, code, time.Now(), nil
		e.mu.Unlock()
	}

	ctx, cancel := context.WithCancel(s.base)
	defer cancel()
	stream, err := s.b.Containers.Exec(ctx)
	if err != nil {
		ended(126)
		return err
	}
	tty := e.opts.Tty || start.Tty
	st := &api.ExecStart{Container: e.container, Cmd: e.opts.Cmd, Tty: tty, Stdin: e.opts.AttachStdin, Env: e.opts.Env}
	e.mu.Lock()
	if e.size != nil {
		st.Rows, st.Cols = e.size.Rows, e.size.Cols
	}
	e.mu.Unlock()
	if cs := start.ConsoleSize; cs != nil {
		st.Rows, st.Cols = uint32(cs[0]), uint32(cs[1])
	} else if cs := e.opts.ConsoleSize; cs != nil && st.Rows == 0 {
		st.Rows, st.Cols = uint32(cs[0]), uint32(cs[1])
	}
	var sendMu sync.Mutex
	send := func(m *api.ExecRequest) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		return stream.Send(m)
	}
	if err := send(&api.ExecRequest{Start: st}); err != nil {
		ended(126)
		return err
	}
	e.mu.Lock()
	e.send = send
	e.mu.Unlock()

	hj, ok := w.(http.Hijacker)
	if !ok {
		ended(126)
		return errors.New("engine API: the connection cannot be hijacked")
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		ended(126)
		return err
	}
	defer conn.Close()
	upgrade := r.Header.Get("Upgrade") != ""
	if upgrade {
		_, _ = io.WriteString(conn, "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
	} else {
		_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n")
	}

	// One reader owns the client's side: stdin to the process when asked
	// for, else drained; it ends when the client closes the connection.
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		if e.opts.AttachStdin {
			pumpStdin(brw.Reader, send)
		}
		_, _ = io.Copy(io.Discard, brw.Reader)
	}()
	// finish ends the exchange as docker does: the server closes its write
	// side and waits (bounded) for the client to hang up, so data still
	// in flight from the client does not reset the connection.
	finish := func() {
		closeWrite(conn)
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		<-readerDone
	}
	var out io.Writer = conn
	var mux *muxWriter
	if !tty {
		mux = &muxWriter{w: conn}
	}
	write := func(stream byte, p []byte) error {
		if len(p) == 0 {
			return nil
		}
		if mux != nil {
			return mux.frame(stream, p)
		}
		_, err := out.Write(p)
		return err
	}
	// Stop when the server does (its context ends r's), closing the
	// connection so a blocked write returns.
	go func() {
		<-ctx.Done()
		conn.Close()
	}()
	for {
		m, err := stream.Recv()
		if err != nil {
			code := 126
			if ctx.Err() != nil {
				code = 137
			} else {
				_ = write(streamStderr, []byte(message(err)+"\n"))
			}
			ended(code)
			if code != 137 {
				finish()
			}
			return nil
		}
		if e.opts.AttachStdout || tty {
			if err := write(streamStdout, m.GetStdout()); err != nil {
				cancel()
				ended(137)
				return nil
			}
		}
		if e.opts.AttachStderr || tty {
			if err := write(streamStderr, m.GetStderr()); err != nil {
				cancel()
				ended(137)
				return nil
			}
		}
		if m.GetExited() {
			ended(int(m.GetExitCode()))
			finish()
			return nil
		}
	}
}

// pumpStdin sends what the client types; end of input closes the
// process's stdin. It returns once the process no longer takes input.
func pumpStdin(r *bufio.Reader, send func(*api.ExecRequest) error) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if serr := send(&api.ExecRequest{Stdin: append([]byte(nil), buf[:n]...)}); serr != nil {
				return
			}
		}
		if err != nil {
			_ = send(&api.ExecRequest{CloseStdin: true})
			return
		}
	}
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}
