package engineapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

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
	// limit (docker ps -n N, -l) keeps the N newest containers, stopped
	// ones included, as docker's.
	limit := -1
	if v := r.URL.Query().Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil {
			return errdefs.InvalidArgument("invalid limit %q: want a whole number", v)
		}
	}
	since, err := s.filterContainer(r, args, "since")
	if err != nil {
		return err
	}
	before, err := s.filterContainer(r, args, "before")
	if err != nil {
		return err
	}
	resp, err := s.b.Containers.ListContainers(r.Context(), &api.ListContainersRequest{All: boolValue(r, "all") || limit > 0})
	if err != nil {
		return err
	}
	now := time.Now()
	out := []container.Summary{}
	if len(resp.GetContainers()) == 0 {
		return writeJSON(w, http.StatusOK, out)
	}
	cs := slices.Clone(resp.GetContainers())
	slices.SortStableFunc(cs, func(a, b *api.Container) int {
		return b.GetCreatedAt().AsTime().Compare(a.GetCreatedAt().AsTime())
	})
	view := s.taskView(r.Context(), "")
	for _, c := range cs {
		if limit > 0 && len(out) == limit {
			break
		}
		created := c.GetCreatedAt().AsTime()
		if since != nil && (c.GetId() == since.GetId() || !created.After(since.GetCreatedAt().AsTime())) {
			continue
		}
		if before != nil && (c.GetId() == before.GetId() || !created.Before(before.GetCreatedAt().AsTime())) {
			continue
		}
		if convert.MatchContainer(args, c, view) {
			out = append(out, convert.ContainerSummary(c, now, view))
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// filterContainer finds the container a since= or before= filter names
// (an ID, a prefix of one, or a name); nil when the filter is not given.
func (s *Server) filterContainer(r *http.Request, args filters.Args, key string) (*api.Container, error) {
	vals := args.Get(key)
	switch len(vals) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, errdefs.InvalidArgument("invalid filter '%s': only one value is expected", key)
	}
	resp, err := s.b.Containers.InspectContainer(r.Context(), &api.InspectContainerRequest{Ref: strings.TrimPrefix(vals[0], "/")})
	if err != nil {
		return nil, err
	}
	return resp.GetContainer(), nil
}

func (s *Server) containerInspect(w http.ResponseWriter, r *http.Request) error {
	resp, err := s.b.Containers.InspectContainer(r.Context(), &api.InspectContainerRequest{Ref: r.PathValue("id")})
	if err != nil {
		return err
	}
	c := resp.GetContainer()
	return writeJSON(w, http.StatusOK, convert.ContainerInspect(c, s.taskView(r.Context(), c.GetLabels()["minsw.task.id"])))
}

// taskView reads what the swarm knows of one task (taskID) or of every
// task on this node (""), with the names of networks and where volumes
// live. Each part is best effort: a worker cannot read the store, and its
// containers are then shown without networks and mounts.
func (s *Server) taskView(ctx context.Context, taskID string) *convert.TaskView {
	v := &convert.TaskView{Tasks: map[string]*api.Task{}, Networks: map[string]string{}, Volumes: map[string]string{}}
	if taskID != "" {
		if resp, err := s.b.Control.GetTask(ctx, &api.GetTaskRequest{Ref: taskID}); err == nil {
			v.Tasks[resp.GetTask().GetId()] = resp.GetTask()
		}
	} else if info, err := s.b.Swarm.Info(ctx, &api.InfoRequest{}); err == nil && info.GetNodeId() != "" {
		if resp, err := s.b.Control.ListTasks(ctx, &api.ListTasksRequest{NodeIds: []string{info.GetNodeId()}}); err == nil {
			for _, t := range resp.GetTasks() {
				v.Tasks[t.GetId()] = t
			}
		}
	}
	if len(v.Tasks) == 0 {
		return v
	}
	if resp, err := s.b.Control.ListNetworks(ctx, &api.ListNetworksRequest{}); err == nil {
		for _, n := range resp.GetNetworks() {
			v.Networks[n.GetId()] = n.GetSpec().GetName()
		}
	}
	if s.b.Volumes != nil {
		if resp, err := s.b.Volumes.ListVolumes(ctx, &api.ListVolumesRequest{}); err == nil {
			for _, vol := range resp.GetVolumes() {
				v.Volumes[vol.GetName()] = vol.GetMountpoint()
			}
		}
	}
	return v
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
