package manager

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/raftnode"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// forwardedHeader marks a call a follower already forwarded, so two
// managers that disagree about the leader never bounce a call forever.
const forwardedHeader = "minsw-forwarded-by"

// leaderOnly lists the services whose calls must run on the leader: all
// writes and the reads that must be current go there.
var leaderOnly = []string{"/minsw.v1.Control/", "/minsw.v1.Membership/"}

// ForwardUnary is a unary interceptor: on a follower, calls to leader-only
// services are sent to the leader and its answer is returned as is.
func (m *Manager) ForwardUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !needsLeader(info.FullMethod) || m.raft.IsLeader() {
		return handler(ctx, req)
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get(forwardedHeader)) > 0 {
		return nil, errdefs.ToGRPC(raftnode.ErrNoLeader)
	}
	addr := m.leaderAddr()
	if addr == "" {
		return nil, errdefs.ToGRPC(raftnode.ErrNoLeader)
	}
	conn, err := m.conn(ctx, addr)
	if err != nil {
		return nil, errdefs.ToGRPC(errdefs.Unavailable("cannot reach the leader at %s: %v", addr, err))
	}
	reply, err := NewReply(info.FullMethod)
	if err != nil {
		return nil, err
	}
	// The leader sees this manager's certificate, not the caller's: pass on
	// who the caller is ("" for a caller without a certificate).
	var caller string
	if id, ok := callerIdentity(ctx); ok {
		caller = formatForwardedIdentity(id)
	}
	ctx = metadata.AppendToOutgoingContext(ctx, forwardedHeader, m.cfg.NodeID, forwardedIdentityHeader, caller)
	if err := conn.Invoke(ctx, info.FullMethod, req, reply); err != nil {
		return nil, err
	}
	return reply, nil
}

func needsLeader(method string) bool {
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
func NewReply(fullMethod string) (any, error) {
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
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Output().FullName())
	if err != nil {
		return nil, err
	}
	return mt.New().Interface(), nil
}

// conn returns a cached connection to another manager.
func (m *Manager) conn(ctx context.Context, addr string) (*grpc.ClientConn, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.conns[addr]; ok {
		return c, nil
	}
	c, err := m.cfg.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	m.conns[addr] = c
	return c, nil
}
