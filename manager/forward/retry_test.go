package forward

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

type listOnly struct {
	api.UnimplementedControlServer
	calls atomic.Int32
}

func (l *listOnly) ListServices(context.Context, *api.ListServicesRequest) (*api.ListServicesResponse, error) {
	l.calls.Add(1)
	return &api.ListServicesResponse{Services: []*api.Service{{Id: "web"}}}, nil
}

// A follower whose leader died (its address refuses connections) waits for
// raft to name another leader and sends the call there: the caller sees an
// answer, and the log says which manager could not be reached, in one line.
func TestFollowerRetriesAnotherManagerWhenTheLeaderCannotBeReached(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close() // nothing listens there now: connection refused

	live, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	ctl := &listOnly{}
	api.RegisterControlServer(srv, ctl)
	go func() { _ = srv.Serve(live) }()
	t.Cleanup(srv.Stop)

	var mu sync.Mutex
	leader := deadAddr
	setLeader := func(a string) { mu.Lock(); leader = a; mu.Unlock() }
	var logs bytes.Buffer
	var logMu sync.Mutex
	f := &Forwarder{
		NodeID:     "follower",
		IsLeader:   func() bool { return false },
		LeaderAddr: func() string { mu.Lock(); defer mu.Unlock(); return leader },
		Dial: func(ctx context.Context, addr string) (*grpc.ClientConn, error) {
			return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		},
		Logger: slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil)),
	}
	t.Cleanup(f.Close)
	// Raft elects the new leader a little after the old one died.
	go func() {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			logMu.Lock()
			seen := strings.Contains(logs.String(), "retrying another manager")
			logMu.Unlock()
			if seen {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		setLeader(live.Addr().String())
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reply, err := f.Unary(ctx, &api.ListServicesRequest{}, &grpc.UnaryServerInfo{FullMethod: api.Control_ListServices_FullMethodName},
		func(context.Context, any) (any, error) { t.Fatal("a follower ran the call itself"); return nil, nil })
	if err != nil {
		t.Fatalf("call through a follower whose leader died: %v", err)
	}
	if got := reply.(*api.ListServicesResponse).GetServices(); len(got) != 1 || ctl.calls.Load() != 1 {
		t.Fatalf("reply %v, %d calls", got, ctl.calls.Load())
	}
	logMu.Lock()
	defer logMu.Unlock()
	want := "cannot reach the manager at " + deadAddr + " (connection refused); retrying another manager"
	if !strings.Contains(logs.String(), want) {
		t.Fatalf("log %q, want %q", logs.String(), want)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
