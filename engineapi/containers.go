package engineapi

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/minsw/minsw/engineapi/convert"
	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// The containers of this node's tasks: list, inspect, logs (exec.go runs
// commands in them). minsw runs no containers outside tasks, so creating
// one is refused (the catch-all 501).

func (s *Server) containerList(w http.ResponseWriter, r *http.Request) error {
	args, err := convert.ParseFilters(r.URL.Query().Get("filters"), convert.ContainerFilterKeys...)
	if err != nil {
		return err
	}
	resp, err := s.b.Containers.ListContainers(r.Context(), &api.ListContainersRequest{All: boolValue(r, "all")})
	if err != nil {
		return err
	}
	now := time.Now()
	out := []container.Summary{}
	for _, c := range resp.GetContainers() {
		if convert.MatchContainer(args, c) {
			out = append(out, convert.ContainerSummary(c, now))
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) containerInspect(w http.ResponseWriter, r *http.Request) error {
	resp, err := s.b.Containers.InspectContainer(r.Context(), &api.InspectContainerRequest{Ref: r.PathValue("id")})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, convert.ContainerInspect(resp.GetContainer()))
}

// containerLogs streams a container's output, each line on its stream
// (a log that keeps no records is all stdout).
func (s *Server) containerLogs(w http.ResponseWriter, r *http.Request) error {
	o, err := parseLogOptions(r)
	if err != nil {
		return err
	}
	ref := r.PathValue("id")
	if _, err := s.b.Containers.InspectContainer(r.Context(), &api.InspectContainerRequest{Ref: ref}); err != nil {
		return err
	}
	stream, err := s.b.Containers.Logs(r.Context(), &api.LogsRequest{Container: ref, Follow: o.follow, Tail: o.tail, Since: o.since, Until: o.until})
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
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if r.Context().Err() == nil {
				_ = mw.frame(streamStderr, []byte("Error grabbing logs: "+message(err)+"\n"))
			}
			return nil
		}
		if len(m.GetData()) > 0 && o.stdout {
			if err := mw.frame(streamStdout, m.GetData()); err != nil {
				return nil
			}
		}
		for _, rec := range m.GetRecords() {
			// A task container's log has no attributes of its own here:
			// --details adds an empty field, as docker's without log-opts.
			line, stream, ok := o.logLine(rec.GetTime(), rec.GetStderr(), "", rec.GetData())
			if !ok {
				continue
			}
			if err := mw.frame(stream, line); err != nil {
				return nil
			}
		}
	}
}

// containerNotTask refuses what docker does to standalone containers.
func (s *Server) containerNotTask(w http.ResponseWriter, r *http.Request) error {
	return errdefs.Unimplemented("minsw runs containers only as swarm tasks: use docker service create (%s %s)", r.Method, r.URL.Path)
}
