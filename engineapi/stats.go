package engineapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/minsw/minsw/engineapi/convert"
	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// statsInterval is how often a stats stream samples, as dockerd's.
const statsInterval = time.Second

// containerStats answers docker stats: a task container's usage, sampled
// by the node once a second. stream=1 (the default) sends a sample a
// second until the client goes; stream=0 sends one, taken a second after
// a first so that its precpu_stats let the client work out the CPU share;
// one-shot=1 (with stream=0) sends the first at once, without precpu.
func (s *Server) containerStats(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	stream := q.Get("stream") == "" || boolValue(r, "stream")
	oneShot := boolValue(r, "one-shot")
	if oneShot && stream {
		return errdefs.InvalidArgument("cannot have stream=true and one-shot=true")
	}
	ref := r.PathValue("id")
	sample := func() (*api.ContainerStats, error) {
		resp, err := s.b.Containers.Stats(r.Context(), &api.StatsRequest{Ref: ref})
		return resp.GetStats(), err
	}
	pre, err := sample()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	if !stream && (oneShot || !pre.GetRunning()) {
		return writeJSON(w, http.StatusOK, convert.ContainerStats(pre, nil))
	}
	if !stream {
		if err := s.waitStats(r); err != nil {
			return err
		}
		cur, err := sample()
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, convert.ContainerStats(cur, pre))
	}
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	var last *api.ContainerStats
	cur := pre
	for {
		if err := enc.Encode(convert.ContainerStats(cur, last)); err != nil {
			return nil // the client went away
		}
		if flusher != nil {
			flusher.Flush()
		}
		if s.waitStats(r) != nil {
			return nil
		}
		next, err := sample()
		if err != nil {
			// The container went (or the node stops): the stream ends,
			// as dockerd's ends when its container is removed.
			return nil
		}
		last, cur = cur, next
	}
}

// waitStats waits one interval, or until the request ends.
func (s *Server) waitStats(r *http.Request) error {
	t := time.NewTimer(statsInterval)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-r.Context().Done():
		return r.Context().Err()
	}
}
