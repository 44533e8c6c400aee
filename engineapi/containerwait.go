package engineapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// waitPoll is how often docker wait looks at the container again.
const waitPoll = 200 * time.Millisecond

// containerWait answers docker wait: once the container is not running
// (condition not-running, the default), has exited after the call
// (next-exit) or is gone (removed), its exit code. As docker's, the
// answer's header goes first and the body once the wait is over, with an
// error in it if the wait failed after the header.
func (s *Server) containerWait(w http.ResponseWriter, r *http.Request) error {
	ref := r.PathValue("id")
	cond := container.WaitCondition(r.URL.Query().Get("condition"))
	switch cond {
	case "", container.WaitConditionNotRunning, container.WaitConditionNextExit, container.WaitConditionRemoved:
	default:
		return errdefs.InvalidArgument("invalid condition %q: want not-running, next-exit or removed", cond)
	}
	ctx := r.Context()
	first, err := s.b.Containers.InspectContainer(ctx, &api.InspectContainerRequest{Ref: ref})
	if err != nil {
		return err
	}
	id := first.GetContainer().GetId()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	started := first.GetContainer().GetStartedAt().AsTime()
	var resp container.WaitResponse
	c := first.GetContainer()
	for {
		done := false
		switch {
		case c == nil:
			done = cond == container.WaitConditionRemoved
		case cond == container.WaitConditionNextExit:
			// Exited since the call: a run that began after it, or the
			// one running then, has ended.
			done = c.GetState() != "running" && (first.GetContainer().GetState() == "running" || c.GetStartedAt().AsTime().After(started))
		case cond == container.WaitConditionRemoved:
		default:
			done = c.GetState() != "running"
		}
		if c != nil {
			resp.StatusCode = int64(c.GetExitCode())
		}
		if done {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(waitPoll):
		}
		got, err := s.b.Containers.InspectContainer(ctx, &api.InspectContainerRequest{Ref: id})
		switch {
		case errdefs.Is(err, errdefs.KindNotFound):
			if cond != container.WaitConditionRemoved {
				resp.Error = &container.WaitExitError{Message: "No such container: " + ref}
				return json.NewEncoder(w).Encode(resp)
			}
			c = nil
		case err != nil:
			if ctx.Err() != nil {
				return nil
			}
			resp.Error = &container.WaitExitError{Message: message(err)}
			return json.NewEncoder(w).Encode(resp)
		default:
			c = got.GetContainer()
		}
	}
	return json.NewEncoder(w).Encode(resp)
}
