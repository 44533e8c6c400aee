package engineapi

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/docker/docker/api/types/events"
	"google.golang.org/protobuf/types/known/timestamppb"

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
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	// A worker has no cluster events to give, only its own containers', as
	// a docker worker's `docker events` shows its own.
	_, worker := s.notManager(r.Context())
	var past []*api.WatchEvent
	var live <-chan *api.WatchEvent
	if !worker {
		var unsubscribe func()
		past, live, unsubscribe = s.eventLog.subscribe(since)
		defer unsubscribe()
	}
	// This node's task containers' events, kept and live, come on a
	// stream of their own.
	ctrs := s.containerEvents(ctx, since, until)
	var sendMsg func(events.Message, map[string]string) bool
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	if f != nil {
		f.Flush()
	}
	enc := json.NewEncoder(w)
	send := func(ev *api.WatchEvent) bool {
		msg, objLabels, ok := convert.Event(ev)
		if !ok {
			return true
		}
		return sendMsg(msg, objLabels)
	}
	sendMsg = func(msg events.Message, objLabels map[string]string) bool {
		if !convert.MatchEvent(args, msg, objLabels) {
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
			// The node's kept container events end their stream too.
			for ev := range ctrs {
				if msg, labels := convert.ContainerEvent(ev); !sendMsg(msg, labels) {
					return nil
				}
			}
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
		case ev, ok := <-ctrs:
			if !ok {
				if worker {
					return nil // a worker's only stream ended
				}
				ctrs = nil // the node's stream ended: the cluster's goes on
				continue
			}
			if msg, labels := convert.ContainerEvent(ev); !sendMsg(msg, labels) {
				return nil
			}
		}
	}
}

// containerEvents relays this node's container events (those kept since
// since first) until ctx ends; the channel closes when the stream ends.
func (s *Server) containerEvents(ctx context.Context, since, until time.Time) <-chan *api.ContainerEvent {
	out := make(chan *api.ContainerEvent, 64)
	req := &api.ContainerEventsRequest{}
	if !since.IsZero() {
		req.Since = timestamppb.New(since)
	}
	if !until.IsZero() {
		req.Until = timestamppb.New(until)
	}
	if s.b.Containers == nil {
		close(out)
		return out
	}
	go func() {
		defer close(out)
		stream, err := s.b.Containers.Events(ctx, req)
		if err != nil {
			return
		}
		for {
			ev, err := stream.Recv()
			if err != nil {
				if ctx.Err() == nil {
					s.log.Debug("container events ended", "err", err)
				}
				return
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
