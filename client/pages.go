package client

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// maxPages bounds how many pages one List call follows: a server that keeps
// answering the same token would otherwise loop forever.
const maxPages = 1 << 16

// FollowPages is a unary client interceptor that makes a paged List call
// (a request with page_token, a reply with next_page_token) return the whole
// list: it asks for page after page and appends their repeated fields. A
// caller that sets page_size or page_token pages itself and gets the one
// page it asked for.
func FollowPages(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	rq, ok1 := req.(proto.Message)
	rp, ok2 := reply.(proto.Message)
	if !ok1 || !ok2 {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	fields := rq.ProtoReflect().Descriptor().Fields()
	tokenFD, sizeFD := fields.ByName("page_token"), fields.ByName("page_size")
	nextFD := rp.ProtoReflect().Descriptor().Fields().ByName("next_page_token")
	if tokenFD == nil || nextFD == nil || rq.ProtoReflect().Has(tokenFD) || (sizeFD != nil && rq.ProtoReflect().Has(sizeFD)) {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	if err := invoker(ctx, method, req, reply, cc, opts...); err != nil {
		return err
	}
	all := rp.ProtoReflect()
	next := all.Get(nextFD).String()
	if next == "" {
		return nil
	}
	pageReq := proto.Clone(rq).ProtoReflect()
	// Pages read at different store versions are not one reading of the
	// store: the whole list then has no version.
	versionFD := all.Descriptor().Fields().ByName("store_version")
	consistent := true
	seen := map[string]bool{}
	for pages := 1; next != ""; pages++ {
		if seen[next] || pages > maxPages {
			return fmt.Errorf("%s: the server keeps answering page %q: giving up after %d pages", method, next, pages)
		}
		seen[next] = true
		pageReq.Set(tokenFD, protoreflect.ValueOfString(next))
		page := all.New()
		if err := invoker(ctx, method, pageReq.Interface(), page.Interface(), cc, opts...); err != nil {
			return err
		}
		page.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			if fd.IsList() {
				dst := all.Mutable(fd).List()
				for i := 0; i < v.List().Len(); i++ {
					dst.Append(v.List().Get(i))
				}
			}
			return true
		})
		next = page.Get(nextFD).String()
		if versionFD != nil && page.Get(versionFD).Uint() != all.Get(versionFD).Uint() {
			consistent = false
		}
	}
	all.Clear(nextFD)
	if !consistent {
		all.Clear(versionFD)
	}
	return nil
}
