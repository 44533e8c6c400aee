package engineapi

import (
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Stream numbers of docker's multiplexed stream format.
const (
	streamStdout = 1
	streamStderr = 2
)

// muxWriter writes docker's multiplexed stream: each frame is an 8-byte
// header (stream, 0, 0, 0, big-endian length) and the payload. It flushes
// every frame so a follower sees lines as they come.
type muxWriter struct {
	mu sync.Mutex
	w  io.Writer
	f  http.Flusher
}

func newMuxWriter(w http.ResponseWriter) *muxWriter {
	f, _ := w.(http.Flusher)
	return &muxWriter{w: w, f: f}
}

func (m *muxWriter) frame(stream byte, p []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var hdr [8]byte
	hdr[0] = stream
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
	if _, err := m.w.Write(hdr[:]); err != nil {
		return err
	}
	if _, err := m.w.Write(p); err != nil {
		return err
	}
	if m.f != nil {
		m.f.Flush()
	}
	return nil
}

// logOptions are a logs request's query parameters.
type logOptions struct {
	follow, details bool
	tail            int32
}

func parseLogOptions(r *http.Request) (logOptions, error) {
	q := r.URL.Query()
	o := logOptions{follow: boolValue(r, "follow"), details: boolValue(r, "details"), tail: -1}
	if !boolValue(r, "stdout") && !boolValue(r, "stderr") {
		return o, errdefs.InvalidArgument("Bad parameters: you must choose at least one stream")
	}
	if boolValue(r, "timestamps") {
		return o, errdefs.Unimplemented("minsw does not keep log timestamps (--timestamps)")
	}
	if v := q.Get("since"); v != "" && v != "0" {
		return o, errdefs.Unimplemented("minsw does not keep log timestamps (--since)")
	}
	if v := q.Get("until"); v != "" && v != "0" {
		return o, errdefs.Unimplemented("minsw does not keep log timestamps (--until)")
	}
	switch v := q.Get("tail"); v {
	case "", "all":
	default:
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 {
			return o, errdefs.InvalidArgument("invalid tail %q: want a number of lines or all", v)
		}
		o.tail = int32(n)
	}
	return o, nil
}

// logDetails is the details field docker's CLI parses to print
// `task@node |`: comma-separated, URL-escaped key=value pairs.
func logDetails(l *api.LogLine, serviceID string) string {
	return "com.docker.swarm.node.id=" + url.QueryEscape(l.GetNodeId()) +
		",com.docker.swarm.service.id=" + url.QueryEscape(serviceID) +
		",com.docker.swarm.task.id=" + url.QueryEscape(l.GetTaskId())
}

func (s *Server) serviceLogs(w http.ResponseWriter, r *http.Request) error {
	o, err := parseLogOptions(r)
	if err != nil {
		return err
	}
	svc, err := s.b.Control.GetService(r.Context(), &api.GetServiceRequest{Ref: r.PathValue("id")})
	if err != nil {
		return err
	}
	return s.streamLogs(w, r, svc.GetService().GetId(), svc.GetService().GetId(), o)
}

func (s *Server) taskLogs(w http.ResponseWriter, r *http.Request) error {
	o, err := parseLogOptions(r)
	if err != nil {
		return err
	}
	t, err := s.b.Control.GetTask(r.Context(), &api.GetTaskRequest{Ref: r.PathValue("id")})
	if err != nil {
		return err
	}
	return s.streamLogs(w, r, t.GetTask().GetId(), t.GetTask().GetServiceId(), o)
}

// streamLogs relays the logs of ref (a service or task ID) until they end
// or the client hangs up (its request context then ends the gRPC stream).
func (s *Server) streamLogs(w http.ResponseWriter, r *http.Request, ref, serviceID string, o logOptions) error {
	stream, err := s.b.Control.ServiceLogs(r.Context(), &api.ServiceLogsRequest{Ref: ref, Follow: o.follow, Tail: o.tail})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/vnd.docker.multiplexed-stream")
	w.WriteHeader(http.StatusOK)
	mw := newMuxWriter(w)
	if mw.f != nil {
		mw.f.Flush()
	}
	for {
		l, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if r.Context().Err() == nil {
				_ = mw.frame(streamStderr, []byte("Error grabbing logs: "+message(err)+"\n"))
			}
			return nil
		}
		var line []byte
		if o.details {
			line = append([]byte(logDetails(l, serviceID)), ' ')
		}
		stream := byte(streamStdout)
		if e := l.GetError(); e != "" {
			stream = streamStderr
			line = append(line, []byte("minsw: logs of task "+l.GetTaskName()+" unavailable: "+e+"\n")...)
		} else {
			line = append(line, l.GetData()...)
		}
		if err := mw.frame(stream, line); err != nil {
			return nil
		}
	}
}
