package engineapi

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/minsw/minsw/engineapi/convert"
	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// parseEventTime reads docker's since/until: Unix seconds, with an
// optional fraction.
func parseEventTime(v string) (time.Time, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) {
		return time.Time{}, errdefs.InvalidArgument("invalid timestamp %q: want Unix seconds", v)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}

// events streams the cluster's changes as docker's JSON messages, one per
// line: those kept since `since` (the last eventLogSize this daemon saw
// while a manager), then the live ones, until `until` passes or the client
// hangs up.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	args, err := convert.ParseFilters(r.URL.Query().Get("filters"), convert.EventFilterKeys...)
	if err != nil {
		return err
	}
	var since, until time.Time
	if v := r.URL.Query().Get("since"); v != "" {
		if since, err = parseEventTime(v); err != nil {
			return err
		}
	}
	if v := r.URL.Query().Get("until"); v != "" {
		if until, err = parseEventTime(v); err != nil {
			return err
		}
		if until.Nanosecond() == 0 {
			// A whole second (the docker CLI sends --until 0s so) takes in
			// the events of that second.
			until = until.Add(time.Second - time.Nanosecond)
		}
	}
	if msg, ok := s.notManager(r.Context()); ok {
		return &statusError{status: http.StatusServiceUnavailable, msg: msg}
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	past, live, unsubscribe := s.eventLog.subscribe(since)
	defer unsubscribe()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	if f != nil {
		f.Flush()
	}
	enc := json.NewEncoder(w)
	send := func(ev *api.WatchEvent) bool {
		msg, objLabels, ok := convert.Event(ev)
		if !ok || !convert.MatchEvent(args, msg, objLabels) {
			return true
		}
		if t := time.Unix(0, msg.TimeNano); (!since.IsZero() && t.Before(since)) || (!until.IsZero() && t.After(until)) {
			return true
		}
		if err := enc.Encode(msg); err != nil {
			return false
		}
		if f != nil {
			f.Flush()
		}
		return true
	}
	for _, ev := range past {
		if !send(ev) {
			return nil
		}
	}
	if !until.IsZero() {
		d := time.Until(until)
		if d <= 0 {
			return nil
		}
		t := time.AfterFunc(d, cancel)
		defer t.Stop()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-live:
			if !ok || !send(ev) {
				return nil
			}
		}
	}
}
