package engineapi

import (
	"net/http"

	"github.com/docker/docker/api/types/container"

	"github.com/minsw/minsw/engineapi/convert"
	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// containerPrune removes this node's stopped task containers (docker
// container prune, and docker system prune's first step), as docker's:
// filters until, label and label!. The tasks stay in the swarm's history;
// only their containers go. The space given back is the writable layers
// the node could measure.
func (s *Server) containerPrune(w http.ResponseWriter, r *http.Request) error {
	args, err := convert.ParseFilters(r.URL.Query().Get("filters"), "label", "label!", "until")
	if err != nil {
		return err
	}
	until, err := pruneUntil(args)
	if err != nil {
		return err
	}
	resp, err := s.b.Containers.ListContainers(r.Context(), &api.ListContainersRequest{All: true})
	if err != nil {
		return err
	}
	sizes := map[string]int64{}
	if du, err := s.b.Containers.DiskUsage(r.Context(), &api.DiskUsageRequest{}); err == nil {
		for _, c := range du.GetContainers() {
			sizes[c.GetId()] = c.GetSizeRw()
		}
	}
	report := container.PruneReport{ContainersDeleted: []string{}}
	for _, c := range resp.GetContainers() {
		if c.GetState() == "running" || !pruneMatches(args, until, c.GetCreatedAt().AsTime(), convert.ContainerLabels(c.GetLabels())) {
			continue
		}
		if _, err := s.b.Containers.Remove(r.Context(), &api.RemoveContainerRequest{Ref: c.GetId()}); err != nil {
			if !errdefs.Is(err, errdefs.KindNotFound) && !errdefs.Is(err, errdefs.KindConflict) {
				s.log.Warn("container prune: could not remove a container", "container", c.GetId(), "err", err)
			}
			continue
		}
		report.ContainersDeleted = append(report.ContainersDeleted, c.GetId())
		if n := sizes[c.GetId()]; n > 0 {
			report.SpaceReclaimed += uint64(n)
		}
	}
	return writeJSON(w, http.StatusOK, report)
}
