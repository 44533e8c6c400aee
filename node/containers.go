package node

import (
	"context"
	"errors"
	"io"
	"sort"
	"strings"
	"sync"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/executor"
)

// containersAPI implements api.ContainersServer over the node's executor.
type containersAPI struct {
	api.UnimplementedContainersServer
	n *Node
}

func newContainersAPI(n *Node) *containersAPI { return &containersAPI{n: n} }

func toProto(s executor.Status) *api.Container {
	c := &api.Container{
		Id: s.ID, Name: s.Name, Image: s.Image, Command: s.Command, State: s.State.String(),
		ExitCode: int32(s.ExitCode), Labels: s.Labels, Pid: s.Pid,
	}
	if !s.CreatedAt.IsZero() {
		c.CreatedAt = timestamppb.New(s.CreatedAt)
	}
	if !s.StartedAt.IsZero() {
		c.StartedAt = timestamppb.New(s.StartedAt)
	}
	if !s.FinishedAt.IsZero() {
		c.FinishedAt = timestamppb.New(s.FinishedAt)
	}
	return c
}

func (c *containersAPI) ListContainers(ctx context.Context, r *api.ListContainersRequest) (*api.ListContainersResponse, error) {
	all, err := c.n.cfg.Executor.List(ctx)
	if err != nil {
		return nil, err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].CreatedAt.After(all[j].CreatedAt) })
	resp := &api.ListContainersResponse{}
	for _, s := range all {
		if !r.GetAll() && s.State != executor.StateRunning {
			continue
		}
		ct := toProto(s)
		c.addHealth(ct)
		resp.Containers = append(resp.Containers, ct)
	}
	return resp, nil
}

// resolve finds the one container ref names: full ID, name, or a unique
// prefix of the ID or the name.
func (c *containersAPI) resolve(ctx context.Context, ref string) (executor.Status, error) {
	if ref == "" {
		return executor.Status{}, errdefs.InvalidArgument("no container name or ID given")
	}
	all, err := c.n.cfg.Executor.List(ctx)
	if err != nil {
		return executor.Status{}, err
	}
	var prefix []executor.Status
	for _, s := range all {
		if s.ID == ref || s.Name == ref {
			return s, nil
		}
		if strings.HasPrefix(s.ID, ref) {
			prefix = append(prefix, s)
		}
	}
	switch len(prefix) {
	case 1:
		return prefix[0], nil
	case 0:
		return executor.Status{}, errdefs.NotFound("No such container: %s", ref)
	}
	return executor.Status{}, errdefs.FailedPrecondition("container %s is ambiguous (%d matches found)", ref, len(prefix))
}

func (c *containersAPI) InspectContainer(ctx context.Context, r *api.InspectContainerRequest) (*api.InspectContainerResponse, error) {
	s, err := c.resolve(ctx, r.GetRef())
	if err != nil {
		return nil, err
	}
	ct := toProto(s)
	c.addHealth(ct)
	return &api.InspectContainerResponse{Container: ct}, nil
}

// streamWriter sends what a process writes as ExecResponse frames.
type streamWriter struct {
	mu     *sync.Mutex
	stream api.Containers_ExecServer
	stderr bool
}

func (w streamWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := append([]byte(nil), p...)
	msg := &api.ExecResponse{Stdout: b}
	if w.stderr {
		msg = &api.ExecResponse{Stderr: b}
	}
	if err := w.stream.Send(msg); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *containersAPI) Exec(stream api.Containers_ExecServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	start := first.GetStart()
	if start == nil || len(start.GetCmd()) == 0 {
		return errdefs.InvalidArgument("exec needs a container and a command")
	}
	ctx := stream.Context()
	s, err := c.resolve(ctx, start.GetContainer())
	if err != nil {
		return err
	}
	if s.State != executor.StateRunning {
		return errdefs.FailedPrecondition("container %s is not running", s.ID[:min(12, len(s.ID))])
	}
	var mu sync.Mutex
	cfg := executor.ExecConfig{
		Cmd: start.GetCmd(), Env: start.GetEnv(), TTY: start.GetTty(),
		Stdout: streamWriter{mu: &mu, stream: stream},
		Stderr: streamWriter{mu: &mu, stream: stream, stderr: true},
	}
	resize := make(chan executor.WindowSize, 4)
	if start.GetTty() {
		cfg.Resize = resize
		if start.GetRows() > 0 {
			resize <- executor.WindowSize{Rows: uint16(start.GetRows()), Cols: uint16(start.GetCols())}
		}
	}
	var stdinW *io.PipeWriter
	if start.GetStdin() {
		var pr *io.PipeReader
		pr, stdinW = io.Pipe()
		cfg.Stdin = pr
	}
	go func() {
		for {
			req, err := stream.Recv()
			if err != nil {
				if stdinW != nil {
					stdinW.Close()
				}
				return
			}
			if len(req.GetStdin()) > 0 && stdinW != nil {
				if _, err := stdinW.Write(req.GetStdin()); err != nil {
					return
				}
			}
			if req.GetCloseStdin() && stdinW != nil {
				stdinW.Close()
			}
			if rs := req.GetResize(); rs != nil && start.GetTty() {
				select {
				case resize <- executor.WindowSize{Rows: uint16(rs.GetRows()), Cols: uint16(rs.GetCols())}:
				default:
				}
			}
		}
	}()
	code, err := c.n.cfg.Executor.Exec(ctx, s.ID, cfg)
	if err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	return stream.Send(&api.ExecResponse{Exited: true, ExitCode: int32(code)})
}

// sendLogs sends a batch of log entries as one message of records.
func sendLogs(stream api.Containers_LogsServer) func([]executor.LogEntry) error {
	return func(es []executor.LogEntry) error {
		m := &api.LogsResponse{Records: make([]*api.LogRecord, 0, len(es))}
		for _, e := range es {
			r := &api.LogRecord{Stderr: e.Stderr, Data: e.Line}
			if !e.Time.IsZero() {
				r.Time = timestamppb.New(e.Time)
			}
			m.Records = append(m.Records, r)
		}
		return stream.Send(m)
	}
}

func (c *containersAPI) Logs(r *api.LogsRequest, stream api.Containers_LogsServer) error {
	ctx := stream.Context()
	s, err := c.resolve(ctx, r.GetContainer())
	if err != nil {
		return err
	}
	opts := executor.LogsOptions{Follow: r.GetFollow(), Tail: int(r.GetTail())}
	if r.GetSince() != nil {
		opts.Since = r.GetSince().AsTime()
	}
	if r.GetUntil() != nil {
		opts.Until = r.GetUntil().AsTime()
	}
	err = c.n.cfg.Executor.Logs(ctx, s.ID, opts, sendLogs(stream))
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
