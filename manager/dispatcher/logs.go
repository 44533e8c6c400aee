package dispatcher

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/logbroker"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// LogBroker is what the dispatcher needs of the log broker: it serves the
// two log streams a worker opens, the dispatcher only checks who opens
// them (manager/logbroker implements it).
type LogBroker interface {
	// Listen hands nodeID the log subscriptions for its tasks, through
	// send, until ctx ends.
	Listen(ctx context.Context, nodeID string, send func(*api.LogSubscription) error) error
	// Publish takes one stream of log messages from nodeID.
	Publish(ctx context.Context, nodeID string, recv func() (*api.PublishLogsMessage, error)) error
}

// LogSubscriptions serves the node's subscription stream for as long as
// its session lives: a replaced or expired session ends it too.
func (d *Dispatcher) LogSubscriptions(req *api.LogSubscriptionsRequest, stream api.Dispatcher_LogSubscriptionsServer) error {
	if d.cfg.Logs == nil {
		return status.Error(codes.Unimplemented, "this manager has no log broker")
	}
	r, err := d.active()
	if err != nil {
		return err
	}
	s, err := r.checkSession(req.GetNodeId(), req.GetSessionId())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	go func() {
		select {
		case <-s.done:
		case <-r.ctx.Done():
		case <-ctx.Done():
		}
		cancel()
	}()
	err = d.cfg.Logs.Listen(ctx, s.nodeID, stream.Send)
	if stream.Context().Err() == nil && ctx.Err() != nil {
		return status.Error(codes.Unavailable, "session ended")
	}
	return logError(err)
}

// PublishLogs takes one publish stream. The node is the one the first
// message names (the cluster port's interceptor has checked that it is
// the caller's own); the broker checks the tasks.
func (d *Dispatcher) PublishLogs(stream api.Dispatcher_PublishLogsServer) error {
	if d.cfg.Logs == nil {
		return status.Error(codes.Unimplemented, "this manager has no log broker")
	}
	if _, err := d.active(); err != nil {
		return err
	}
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return stream.SendAndClose(&api.PublishLogsResponse{})
	}
	if err != nil {
		return err
	}
	nodeID := first.GetNodeId()
	if nodeID == "" {
		return status.Error(codes.InvalidArgument, "publish logs: no node ID given")
	}
	recv := func() (*api.PublishLogsMessage, error) {
		if first != nil {
			m := first
			first = nil
			return m, nil
		}
		return stream.Recv()
	}
	if err := d.cfg.Logs.Publish(stream.Context(), nodeID, recv); err != nil {
		return logError(err)
	}
	return stream.SendAndClose(&api.PublishLogsResponse{})
}

// logError maps the broker's errors to gRPC codes.
func logError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if errors.Is(err, logbroker.ErrNotPermitted) {
		return status.Error(codes.PermissionDenied, err.Error())
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return errdefs.ToGRPC(err)
}
