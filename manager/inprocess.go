package manager

import (
	"context"
	"crypto/tls"
	"crypto/x509"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/ca"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// CallLocal makes a unary Control or Membership call on this manager in
// memory, through the very edge a call on the cluster port meets (errors,
// auth with the caller's certificate, forwarding to the leader), without
// marshalling it or a TLS hop. It is how the node's own socket reaches its
// manager: creds are the node's, its certificate the caller's identity.
// The manager works on a copy of the request; the answer is shared with
// the manager (the store's objects): marshal it, never modify it.
func (m *Manager) CallLocal(ctx context.Context, creds *ca.Credentials, fullMethod string, req any) (any, error) {
	h, ok := m.unary[fullMethod]
	if !ok {
		return nil, errdefs.Unimplemented("%s is not served in memory", fullMethod)
	}
	leaf := creds.Leaf()
	if leaf == nil {
		return nil, errdefs.Unauthenticated("this node has no certificate")
	}
	// The call carries nothing of its caller's metadata (a forwarded
	// identity is believed only from another manager), and this node's
	// own certificate as its peer's: the one the TLS hop would present.
	ctx = metadata.NewIncomingContext(ctx, metadata.MD{})
	ctx = peer.NewContext(ctx, &peer.Peer{AuthInfo: credentials.TLSInfo{State: tls.ConnectionState{
		PeerCertificates: []*x509.Certificate{leaf}, VerifiedChains: [][]*x509.Certificate{{leaf}},
	}}})
	in, ok := req.(proto.Message)
	if !ok {
		return nil, errdefs.InvalidArgument("%s: the request is not a protobuf message", fullMethod)
	}
	dec := func(into any) error {
		out, ok := into.(proto.Message)
		if !ok || out.ProtoReflect().Descriptor() != in.ProtoReflect().Descriptor() {
			return errdefs.InvalidArgument("%s: wrong request type %T", fullMethod, req)
		}
		proto.Merge(out, in)
		return nil
	}
	return h.handler(h.srv, ctx, dec, m.unaryChain)
}

// unaryMethod is one unary method of a registered service.
type unaryMethod struct {
	srv     any
	handler grpc.MethodHandler
}

// inMemoryMethods maps the full names of the unary methods of Control and
// Membership to their handlers on this manager.
func (m *Manager) inMemoryMethods() map[string]unaryMethod {
	out := map[string]unaryMethod{}
	for _, s := range []struct {
		desc *grpc.ServiceDesc
		impl any
	}{{&api.Control_ServiceDesc, m.control}, {&api.Membership_ServiceDesc, m.membership}} {
		for _, md := range s.desc.Methods {
			out["/"+s.desc.ServiceName+"/"+md.MethodName] = unaryMethod{srv: s.impl, handler: md.Handler}
		}
	}
	return out
}

// chainUnary runs interceptors outermost first, as grpc.ChainUnaryInterceptor.
func chainUnary(interceptors ...grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		var next func(i int) grpc.UnaryHandler
		next = func(i int) grpc.UnaryHandler {
			if i == len(interceptors) {
				return handler
			}
			return func(ctx context.Context, req any) (any, error) {
				return interceptors[i](ctx, req, info, next(i+1))
			}
		}
		return next(0)(ctx, req)
	}
}
