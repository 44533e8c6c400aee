package engineapi

import (
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	timetypes "github.com/docker/docker/api/types/time"
	"google.golang.org/protobuf/types/known/timestamppb"

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
	follow, details, timestamps bool
	stdout, stderr              bool
	tail                        int32
	since, until                *timestamppb.Timestamp
}

func parseLogOptions(r *http.Request) (logOptions, error) {
	q := r.URL.Query()
	o := logOptions{follow: boolValue(r, "follow"), details: boolValue(r, "details"), timestamps: boolValue(r, "timestamps"),
		stdout: boolValue(r, "stdout"), stderr: boolValue(r, "stderr"), tail: -1}
	if !o.stdout && !o.stderr {
		return o, errdefs.InvalidArgument("Bad parameters: you must choose at least one stream")
	}
	var err error
	if o.since, err = logTime(q.Get("since"), "since"); err != nil {
		return o, err
	}
	if o.until, err = logTime(q.Get("until"), "until"); err != nil {
		return o, err
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

// logTime reads since or until as docker's clients send them (seconds
// since the epoch, with an optional .nanoseconds); "" and "0" are unset.
func logTime(v, key string) (*timestamppb.Timestamp, error) {
	if v == "" || v == "0" {
		return nil, nil
	}
	sec, nsec, err := timetypes.ParseTimestamps(v, 0)
	if err != nil {
		return nil, errdefs.InvalidArgument("invalid %s %q: want seconds since the epoch, such as 1733227200.5", key, v)
	}
	return timestamppb.New(time.Unix(sec, nsec)), nil
}

// rfc3339NanoFixed is the time layout docker's --timestamps print: always
// nine digits of fraction, so the columns line up.
const rfc3339NanoFixed = "2006-01-02T15:04:05.000000000Z07:00"

// logLine is one line as docker's daemon writes it in a logs stream:
// [time ][details ]data. It reports false for a line of a stream the
// request did not ask for.
func (o logOptions) logLine(ts *timestamppb.Timestamp, stderr bool, details string, data []byte) ([]byte, byte, bool) {
	stream := byte(streamStdout)
	if stderr {
		stream = streamStderr
	}
	if (stderr && !o.stderr) || (!stderr && !o.stdout) {
		return nil, stream, false
	}
	var line []byte
	if o.timestamps {
		var t time.Time
		if ts != nil {
			t = ts.AsTime()
		}
		line = append(t.UTC().AppendFormat(line, rfc3339NanoFixed), ' ')
	}
	if o.details {
		line = append(append(line, details...), ' ')
	}
	return append(line, data...), stream, true
}

// logDetails is the details field docker's CLI parses to print
// `task@node |` and, with --details, the log's attributes: comma-separated,
// URL-escaped key=value pairs, the task's attributes then swarm's.
func logDetails(l *api.LogLine, serviceID string) string {
	var b strings.Builder
	for _, a := range l.GetAttrs() {
		b.WriteString(url.QueryEscape(a.GetKey()) + "=" + url.QueryEscape(a.GetValue()) + ",")
	}
	b.WriteString("com.docker.swarm.node.id=" + url.QueryEscape(l.GetNodeId()) +
		",com.docker.swarm.service.id=" + url.QueryEscape(serviceID) +
		",com.docker.swarm.task.id=" + url.QueryEscape(l.GetTaskId()))
	return b.String()
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
	stream, err := s.b.Control.ServiceLogs(r.Context(), &api.ServiceLogsRequest{Ref: ref, Follow: o.follow, Tail: o.tail, Since: o.since, Until: o.until})
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
		line, stream, ok := o.logLine(l.GetTime(), l.GetStderr(), logDetails(l, serviceID), l.GetData())
		if e := l.GetError(); e != "" {
			// On stderr whatever was asked, in a line docker's CLI parses
			// like the others (its prefix names the task).
			oe := o
			oe.stderr = true
			line, stream, ok = oe.logLine(timestamppb.Now(), true, logDetails(l, serviceID), []byte("minsw: logs of task "+l.GetTaskName()+" unavailable: "+e+"\n"))
		}
		if !ok {
			continue
		}
		if err := mw.frame(stream, line); err != nil {
			return nil
		}
	}
}
