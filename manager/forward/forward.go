// Package forward sends the calls a follower takes for leader-only services
// to the leader and relays the answer, so any manager serves the whole API;
// on the leader it holds calls until the leader may serve. It does not
// decide who may call (auth does).
package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/auth"
	"github.com/minsw/minsw/manager/raftnode"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// forwardedHeader marks a call a follower already forwarded, so two
// managers that disagree about the leader never bounce a call forever.
const forwardedHeader = "minsw-forwarded-by"

// leaderOnly lists the services whose calls must run on the leader: all
// writes and the reads that must be current go there.
var leaderOnly = []string{"/minsw.v1.Control/", "/minsw.v1.Membership/"}

// Forwarder is the forward-to-leader interceptor pair of one manager.
type Forwarder struct {
	// NodeID names this manager on forwarded calls and answers.
	NodeID string
	// IsLeader reports whether this manager leads now.
	IsLeader func() bool
	// VerifyLeader confirms with a quorum that this manager still leads.
	VerifyLeader func() error
	// WaitServing returns once this leader may serve calls (it has applied
	// earlier terms' log and its loops run), or why not.
	WaitServing func(ctx context.Context) error
	// LeaderAddr is the leader's cluster address ("" when none is known).
	LeaderAddr func() string
	// Dial opens a connection to another manager.
	Dial func(ctx context.Context, addr string) (*grpc.ClientConn, error)
	// Logger says when a leader cannot be reached; nil: slog.Default.
	Logger *slog.Logger

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

// Close closes the connections to other managers.
func (m *Forwarder) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.conns {
		c.Close()
	}
	m.conns = nil
}

// Unary is a unary interceptor: on a follower, calls to leader-only
// services are sent to the leader and its answer is returned as is.
func (m *Forwarder) Unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !NeedsLeader(info.FullMethod) {
		return handler(ctx, req)
	}
	// Whatever this manager answers, the caller learns it was an answer
	// (not a broken connection): see ForwardError.
	_ = grpc.SetTrailer(ctx, metadata.Pairs(answeredHeader, m.NodeID))
	if m.IsLeader() {
		// A new leader serves nothing before it has applied what earlier
		// terms committed: its store could be older than acknowledged writes.
		if err := m.WaitServing(ctx); err != nil {
			return nil, err
		}
		// A leader cut off from the others may not know it yet: a read it
		// answers must be confirmed current by a quorum first. (Writes are
		// confirmed by committing them.)
		if isRead(info.FullMethod) {
			if err := m.VerifyLeader(); err != nil {
				return nil, err
			}
		}
		return handler(ctx, req)
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get(forwardedHeader)) > 0 {
		return nil, raftnode.ErrNoLeader
	}
	// The leader sees this manager's certificate, not the caller's: pass on
	// who the caller is ("" for a caller without a certificate).
	var caller string
	if id, ok := auth.CallerIdentity(ctx); ok {
		caller = auth.FormatForwardedIdentity(id)
	}
	ctx = metadata.AppendToOutgoingContext(ctx, forwardedHeader, m.NodeID, auth.ForwardedIdentityHeader, caller)
	// A leader that cannot be dialled has usually just died: the call never
	// left, so it is safe to send it again once raft names another leader.
	for attempt := 1; ; attempt++ {
		addr := m.LeaderAddr()
		if addr == "" {
			return nil, raftnode.ErrNoLeader
		}
		reply, trailer, err := m.relay(ctx, info.FullMethod, req, addr)
		if err == nil {
			return reply, nil
		}
		st, _ := status.FromError(err)
		if attempt >= maxLeaderAttempts || len(trailer.Get(answeredHeader)) > 0 || !neverSent(st) || ctx.Err() != nil {
			return nil, ForwardError(info.FullMethod, err, trailer)
		}
		m.logger().Warn(fmt.Sprintf("cannot reach the manager at %s (%s); retrying another manager", addr, dialCause(st.Message())), "method", info.FullMethod)
		if !m.awaitOtherLeader(ctx, addr) {
			return nil, ForwardError(info.FullMethod, err, trailer)
		}
	}
}

// maxLeaderAttempts bounds how many leaders one call is sent to.
const maxLeaderAttempts = 3

// relay sends one call to the leader at addr.
func (m *Forwarder) relay(ctx context.Context, fullMethod string, req any, addr string) (any, metadata.MD, error) {
	conn, err := m.Conn(ctx, addr)
	if err != nil {
		return nil, nil, errdefs.Unavailable("cannot reach the manager at %s: %v", addr, err)
	}
	reply, err := NewReply(fullMethod)
	if err != nil {
		return nil, nil, err
	}
	ctx, moved, stop := m.whileLeaderIs(ctx, addr)
	defer stop()
	var trailer metadata.MD
	if err := conn.Invoke(ctx, fullMethod, req, reply, grpc.Trailer(&trailer)); err != nil {
		if moved() {
			// This manager gave up on the old leader: whatever came back
			// (even the old leader's answer to the cancellation), the
			// write's fate is unknown.
			trailer = nil
		}
		return nil, trailer, err
	}
	return reply, trailer, nil
}

// leaderWait bounds how long a call waits for raft to elect a leader other
// than one it could not reach (an election takes a few heartbeats).
const leaderWait = 10 * time.Second

// awaitOtherLeader waits until raft names a leader other than addr.
func (m *Forwarder) awaitOtherLeader(ctx context.Context, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, leaderWait)
	defer cancel()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if a := m.LeaderAddr(); a != "" && a != addr {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}

func (m *Forwarder) logger() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return slog.Default()
}

// leaderPoll is how often a relayed call checks that its leader still
// leads.
const leaderPoll = 50 * time.Millisecond

// whileLeaderIs returns ctx cancelled as soon as this manager sees another
// leader than addr (a leader merely unknown for a moment does not count),
// and a func that says whether that happened. A call relayed to a leader
// that was paused or cut off would otherwise hang until the caller gives
// up, long after a new leader took over; cancelled, it ends at once
// (unknown for a write, which the caller may retry on the new leader).
func (m *Forwarder) whileLeaderIs(ctx context.Context, addr string) (context.Context, func() bool, func()) {
	ctx, cancel := context.WithCancel(ctx)
	var moved atomic.Bool
	go func() {
		t := time.NewTicker(leaderPoll)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if now := m.LeaderAddr(); now != "" && now != addr {
					moved.Store(true)
					cancel()
					return
				}
			}
		}
	}()
	return ctx, moved.Load, cancel
}

// Stream is Unary for streaming calls: on a follower, a
// leader-only server-streaming call (ServiceLogs) is relayed to the leader
// for as long as either side keeps it open.
func (m *Forwarder) Stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if !NeedsLeader(info.FullMethod) {
		return handler(srv, ss)
	}
	ctx := ss.Context()
	if m.IsLeader() {
		if err := m.WaitServing(ctx); err != nil {
			return err
		}
		return handler(srv, ss)
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get(forwardedHeader)) > 0 {
		return raftnode.ErrNoLeader
	}
	if info.IsClientStream {
		return errdefs.FailedPrecondition("%s cannot be forwarded to the leader: call the leader", info.FullMethod)
	}
	addr := m.LeaderAddr()
	if addr == "" {
		return raftnode.ErrNoLeader
	}
	conn, err := m.Conn(ctx, addr)
	if err != nil {
		return errdefs.Unavailable("cannot reach the leader at %s: %v", addr, err)
	}
	var caller string
	if id, ok := auth.CallerIdentity(ctx); ok {
		caller = auth.FormatForwardedIdentity(id)
	}
	ctx = metadata.AppendToOutgoingContext(ctx, forwardedHeader, m.NodeID, auth.ForwardedIdentityHeader, caller)
	return ForwardServerStream(ctx, conn, info.FullMethod, ss)
}

// ForwardServerStream relays a server-streaming call taken on in to the
// same method on conn: the one request goes out, every reply comes back,
// until the far end finishes or ctx ends (the caller went).
func ForwardServerStream(ctx context.Context, conn grpc.ClientConnInterface, fullMethod string, in grpc.ServerStream) error {
	req, err := newMessage(fullMethod, false)
	if err != nil {
		return err
	}
	if err := in.RecvMsg(req); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, fullMethod)
	if err != nil {
		return err
	}
	if err := out.SendMsg(req); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if err := out.CloseSend(); err != nil {
		return err
	}
	for {
		reply, err := newMessage(fullMethod, true)
		if err != nil {
			return err
		}
		if err := out.RecvMsg(reply); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := in.SendMsg(reply); err != nil {
			return err
		}
	}
}

// isRead reports whether a Control method only reads.
func isRead(method string) bool {
	name := method[strings.LastIndex(method, "/")+1:]
	return strings.HasPrefix(method, "/minsw.v1.Control/") && (strings.HasPrefix(name, "Get") || strings.HasPrefix(name, "List"))
}

// NeedsLeader reports whether method must run on the leader.
func NeedsLeader(method string) bool {
	if method == api.Membership_GetRootCA_FullMethodName {
		return false // any manager's store has the root
	}
	for _, p := range leaderOnly {
		if strings.HasPrefix(method, p) {
			return true
		}
	}
	return false
}

// NewReply makes an empty response message for a full method name, from
// the registered descriptors.
func NewReply(fullMethod string) (any, error) { return newMessage(fullMethod, true) }

// newMessage makes an empty request (or reply) message of a method.
func newMessage(fullMethod string, reply bool) (any, error) {
	svc, method, ok := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	if !ok {
		return nil, errdefs.InvalidArgument("malformed method %q", fullMethod)
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return nil, err
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, errdefs.InvalidArgument("%s is not a service", svc)
	}
	md := sd.Methods().ByName(protoreflect.Name(method))
	if md == nil {
		return nil, errdefs.NotFound("method %s not found", fullMethod)
	}
	name := md.Input().FullName()
	if reply {
		name = md.Output().FullName()
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(name)
	if err != nil {
		return nil, err
	}
	return mt.New().Interface(), nil
}

// Conn returns a cached connection to another manager.
func (m *Forwarder) Conn(ctx context.Context, addr string) (*grpc.ClientConn, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.conns[addr]; ok {
		return c, nil
	}
	c, err := m.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	if m.conns == nil {
		m.conns = map[string]*grpc.ClientConn{}
	}
	m.conns[addr] = c
	return c, nil
}
