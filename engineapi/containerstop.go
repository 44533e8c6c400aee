package engineapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// docker stop, docker kill and docker rm on this node's task containers.
// The task then ends as if its process had, and the swarm replaces it as
// its restart policy says: what a Swarm user does to see a service heal.
// Only SIGKILL can be sent: the executor stops a container with its
// service's stop signal, then kills it.

// isKill says whether a signal docker's clients send is SIGKILL.
func isKill(sig string) bool {
	switch strings.TrimPrefix(strings.ToUpper(sig), "SIG") {
	case "KILL", "9":
		return true
	}
	return false
}

func (s *Server) containerStop(w http.ResponseWriter, r *http.Request) error {
	req := &api.StopContainerRequest{Ref: r.PathValue("id")}
	q := r.URL.Query()
	if v := q.Get("t"); v != "" {
		secs, err := strconv.Atoi(v)
		if err != nil {
			return errdefs.InvalidArgument("invalid stop timeout %q: want a whole number of seconds", v)
		}
		if secs >= 0 {
			req.Timeout = durationpb.New(time.Duration(secs) * time.Second)
		}
	}
	if sig := q.Get("signal"); sig != "" {
		if !isKill(sig) {
			return errdefs.Unimplemented("minsw stops a task's container with its service's stop signal (--stop-signal); docker stop --signal %s is not supported", sig)
		}
		req.Kill = true
	}
	resp, err := s.b.Containers.Stop(r.Context(), req)
	if err != nil {
		return err
	}
	if !resp.GetWasRunning() {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerKill(w http.ResponseWriter, r *http.Request) error {
	ref := r.PathValue("id")
	if sig := r.URL.Query().Get("signal"); sig != "" && !isKill(sig) {
		return errdefs.Unimplemented("minsw can send a task's container only SIGKILL (docker kill without --signal); %s is not supported", sig)
	}
	resp, err := s.b.Containers.Stop(r.Context(), &api.StopContainerRequest{Ref: ref, Kill: true})
	if err != nil {
		return err
	}
	if !resp.GetWasRunning() {
		return errdefs.Conflict("Cannot kill container: %s: container is not running", ref)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerRemove(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.b.Containers.Remove(r.Context(), &api.RemoveContainerRequest{Ref: r.PathValue("id"), Force: boolValue(r, "force")}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
