package forward

import (
	"context"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// stuckLeader takes calls and never answers, as a leader paused by SIGSTOP
// or cut off by a partition.
type stuckLeader struct {
	api.UnimplementedControlServer
	got chan struct{}
}

func (s stuckLeader) CreateService(ctx context.Context, _ *api.CreateServiceRequest) (*api.CreateServiceResponse, error) {
	s.got <- struct{}{}
	<-ctx.Done()
	return nil, ctx.Err()
}

// A write relayed to a leader that stops answering ends as soon as this
// follower sees another leader, as unknown, instead of hanging until the
// caller's deadline.
func TestRelayedCallEndsWhenTheLeaderChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "leader.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	got := make(chan struct{}, 1)
	api.RegisterControlServer(srv, stuckLeader{got: got})
	go srv.Serve(l)
	defer srv.Stop()

	var leader atomic.Value
	leader.Store("old:2377")
	f := &Forwarder{NodeID: "follower", IsLeader: func() bool { return false },
		LeaderAddr: func() string { return leader.Load().(string) },
		Dial: func(ctx context.Context, addr string) (*grpc.ClientConn, error) {
			return grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
		}}
	defer f.Close()
	go func() {
		<-got // the old leader has the request
		leader.Store("new:2377")
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err = f.Unary(ctx, &api.CreateServiceRequest{}, &grpc.UnaryServerInfo{FullMethod: "/minsw.v1.Control/CreateService"},
		func(context.Context, any) (any, error) { t.Fatal("a follower ran the handler"); return nil, nil })
	if !errdefs.Is(err, errdefs.KindOutcomeUnknown) || status.Code(err) != codes.Unknown {
		t.Fatalf("got %v, want an unknown outcome", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("the call ran until the caller's deadline (%v)", time.Since(start))
	}
}
