package dispatcher

import (
	"context"
	"errors"
	"io"

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
		return errdefs.Unimplemented("this manager has no log broker")
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
		return errdefs.Unavailable("session ended")
	}
	return logError(err)
}

// PublishLogs takes one publish stream. The node is the one the first
// message names (the cluster port's interceptor has checked that it is
// the caller's own); the broker checks the tasks.
func (d *Dispatcher) PublishLogs(stream api.Dispatcher_PublishLogsServer) error {
	if d.cfg.Logs == nil {
		return errdefs.Unimplemented("this manager has no log broker")
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
		return errdefs.InvalidArgument("publish logs: no node ID given")
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

// logError gives the broker's refusals their kind (the edge maps it).
func logError(err error) error {
	if errors.Is(err, logbroker.ErrNotPermitted) {
		return errdefs.PermissionDenied("%s", err.Error())
	}
	return err
}
