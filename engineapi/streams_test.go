package engineapi

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// A fake backend whose streams never end by themselves: a logs follower
// and an events watcher stay open until the client hangs up, and then
// must leave no goroutine behind.

type endlessStream[T any] struct {
	ctx   context.Context
	first *T
}

func (s *endlessStream[T]) Recv() (*T, error) {
	if s.first != nil {
		m := s.first
		s.first = nil
		return m, nil
	}
	<-s.ctx.Done()
	return nil, s.ctx.Err()
}
func (s *endlessStream[T]) Header() (metadata.MD, error) { return nil, nil }
func (s *endlessStream[T]) Trailer() metadata.MD         { return nil }
func (s *endlessStream[T]) CloseSend() error             { return nil }
func (s *endlessStream[T]) Context() context.Context     { return s.ctx }
func (s *endlessStream[T]) SendMsg(any) error            { return nil }
func (s *endlessStream[T]) RecvMsg(any) error            { return nil }

type fakeControl struct{ api.ControlClient }

type fakeSwarm struct{ api.SwarmClient }

func (fakeSwarm) Info(context.Context, *api.InfoRequest, ...grpc.CallOption) (*api.InfoResponse, error) {
	return &api.InfoResponse{LocalNodeState: "active", ControlAvailable: true}, nil
}

func (fakeControl) GetService(_ context.Context, r *api.GetServiceRequest, _ ...grpc.CallOption) (*api.GetServiceResponse, error) {
	return &api.GetServiceResponse{Service: &api.Service{Id: "svc1", Spec: &api.ServiceSpec{Name: r.GetRef()}}}, nil
}

func (fakeControl) ServiceLogs(ctx context.Context, _ *api.ServiceLogsRequest, _ ...grpc.CallOption) (grpc.ServerStreamingClient[api.LogLine], error) {
	return &endlessStream[api.LogLine]{ctx: ctx, first: &api.LogLine{TaskId: "t1", NodeId: "n1", Data: []byte("hello\n")}}, nil
}

func (fakeControl) Watch(ctx context.Context, _ *api.WatchRequest, _ ...grpc.CallOption) (grpc.ServerStreamingClient[api.WatchEvent], error) {
	return &endlessStream[api.WatchEvent]{ctx: ctx, first: &api.WatchEvent{Action: "create", Time: timestamppb.Now(),
		Object: &api.WatchEvent_Service{Service: &api.Service{Id: "svc1", Spec: &api.ServiceSpec{Name: "web"}}}}}, nil
}

func serveFake(t *testing.T) (sock string, stop func()) {
	t.Helper()
	sock = filepath.Join(t.TempDir(), "docker.sock")
	l, err := ListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s := New(Config{Backend: Backend{Control: fakeControl{}, Swarm: fakeSwarm{}}, EngineVersion: "test"})
	go func() { defer close(done); _ = s.Serve(ctx, l) }()
	// Wait for the event log's watch to have its first event.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		past, _, unsub := s.eventLog.subscribe(time.Unix(1, 0))
		unsub()
		if len(past) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the event log never got the fake's event")
		}
	}
	return sock, func() { cancel(); <-done }
}

func TestStreamsEndWithTheirClient(t *testing.T) {
	sock, stop := serveFake(t)
	defer stop()
	before := runtime.NumGoroutine()
	for _, c := range []struct{ path, first string }{
		{"/v1.47/services/web/logs?stdout=1&follow=1&details=1", "com.docker.swarm.task.id=t1 hello"},
		{"/v1.47/events?since=1", `"Action":"create"`},
	} {
		conn, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(conn, "GET "+c.path+" HTTP/1.1\r\nHost: docker\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", c.path, resp, err)
		}
		buf := make([]byte, 4096)
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _ := io.ReadAtLeast(resp.Body, buf, len(c.first))
		if !strings.Contains(string(buf[:n]), c.first) {
			t.Fatalf("%s: first bytes %q, want %q", c.path, buf[:n], c.first)
		}
		conn.Close() // the client hangs up mid-stream
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before+1 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines left behind (before %d):\n%s", runtime.NumGoroutine()-before, before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
