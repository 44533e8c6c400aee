package engineapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
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
// line, until until passes or the client hangs up. minsw keeps no event
// history: a since in the past replays nothing, events start now.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	args, err := convert.ParseFilters(r.URL.Query().Get("filters"), convert.EventFilterKeys...)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var until time.Time
	if v := r.URL.Query().Get("until"); v != "" {
		if until, err = parseEventTime(v); err != nil {
			return err
		}
	}
	var since time.Time
	if v := r.URL.Query().Get("since"); v != "" {
		if since, err = parseEventTime(v); err != nil {
			return err
		}
	}
	stream, err := s.b.Control.Watch(ctx, &api.WatchRequest{})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	if f != nil {
		f.Flush()
	}
	if !until.IsZero() {
		if d := time.Until(until); d <= 0 {
			return nil
		} else {
			t := time.AfterFunc(d, cancel)
			defer t.Stop()
		}
	}
	enc := json.NewEncoder(w)
	for {
		ev, err := stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				s.log.Debug("events stream ended", "err", err)
			}
			return nil
		}
		msg, objLabels, ok := convert.Event(ev)
		if !ok || !convert.MatchEvent(args, msg, objLabels) {
			continue
		}
		if t := time.Unix(0, msg.TimeNano); (!since.IsZero() && t.Before(since)) || (!until.IsZero() && t.After(until)) {
			continue
		}
		if err := enc.Encode(msg); err != nil {
			return nil
		}
		if f != nil {
			f.Flush()
		}
	}
}
