package engineapi

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/docker/docker/api/types"

	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Docker's own words for a node that cannot answer a manager call.
const (
	msgNotInSwarm = `This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`
	msgWorker     = `This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.`
	msgNoSwarm    = `This node is not part of a swarm`
	msgLocked     = `Swarm is encrypted and needs to be unlocked before it can be used. Please use "docker swarm unlock" to unlock it.`
)

// statusError is an answer whose HTTP status has no errdefs kind (413).
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

var grpcPrefix = regexp.MustCompile(`rpc error: code = \w+ desc = `)

// message is err's text for a user of the docker CLI: without gRPC's
// framing, and naming docker's commands where minsw's would not apply.
func message(err error) string {
	msg := grpcPrefix.ReplaceAllString(err.Error(), "")
	return strings.ReplaceAll(msg, `"minsw swarm `, `"docker swarm `)
}

// httpError maps err once to docker's status code and message.
func (s *Server) httpError(ctx context.Context, err error) (int, string) {
	var se *statusError
	if errors.As(err, &se) {
		return se.status, se.msg
	}
	switch errdefs.KindOf(err) {
	case errdefs.KindInvalidArgument:
		return http.StatusBadRequest, message(err)
	case errdefs.KindNotFound:
		return http.StatusNotFound, message(err)
	case errdefs.KindAlreadyExists, errdefs.KindConflict:
		return http.StatusConflict, message(err)
	case errdefs.KindFailedPrecondition:
		// The local API refuses manager calls on a node that is not one:
		// docker answers those 503 with its own words.
		if msg, ok := s.notManager(ctx); ok {
			return http.StatusServiceUnavailable, msg
		}
		return http.StatusConflict, message(err)
	case errdefs.KindUnavailable:
		return http.StatusServiceUnavailable, message(err)
	case errdefs.KindUnimplemented:
		return http.StatusNotImplemented, message(err)
	case errdefs.KindUnauthenticated:
		return http.StatusUnauthorized, message(err)
	case errdefs.KindPermissionDenied:
		return http.StatusForbidden, message(err)
	case errdefs.KindOutcomeUnknown:
		// Not a failure: the write may have been applied. The message says
		// so and how to check.
		return http.StatusGatewayTimeout, message(err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return http.StatusServiceUnavailable, message(err)
	}
	return http.StatusInternalServerError, message(err)
}

// notManager says whether this node cannot serve manager calls, and why
// in docker's words.
func (s *Server) notManager(ctx context.Context) (string, bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	info, err := s.b.Swarm.Info(ctx, &api.InfoRequest{})
	if err != nil {
		return "", false
	}
	switch {
	case info.GetLocalNodeState() == "locked":
		return msgLocked, true
	case info.GetLocalNodeState() == "inactive":
		return msgNotInSwarm, true
	case !info.GetControlAvailable():
		return msgWorker, true
	}
	return "", false
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := s.httpError(r.Context(), err)
	if status >= 500 && status != http.StatusNotImplemented && status != http.StatusServiceUnavailable && status != http.StatusGatewayTimeout {
		s.log.Error("engine API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	_ = writeJSON(w, status, types.ErrorResponse{Message: msg})
}
