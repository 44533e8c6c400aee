package engineapi

import (
	"net/http"
	"slices"
	"time"

	"github.com/docker/docker/api/types"

	"github.com/minsw/minsw/engineapi/convert"
	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// systemDF answers docker system df for this node: its containerd images,
// its task containers with their writable layers, and its volumes. type=
// (API 1.42) selects the kinds.
func (s *Server) systemDF(w http.ResponseWriter, r *http.Request) error {
	want := map[types.DiskUsageObject]bool{}
	for _, t := range r.URL.Query()["type"] {
		o := types.DiskUsageObject(t)
		if !slices.Contains(convert.DiskUsageTypes, o) {
			return errdefs.InvalidArgument("unknown object type: %s", t)
		}
		want[o] = true
	}
	du, err := s.b.Containers.DiskUsage(r.Context(), &api.DiskUsageRequest{})
	if err != nil {
		return err
	}
	ctrs, err := s.b.Containers.ListContainers(r.Context(), &api.ListContainersRequest{All: true})
	if err != nil {
		return err
	}
	var vols []*api.Volume
	if s.b.Volumes != nil {
		resp, err := s.b.Volumes.ListVolumes(r.Context(), &api.ListVolumesRequest{})
		if err != nil {
			return err
		}
		vols = resp.GetVolumes()
	}
	var view *convert.TaskView
	if len(want) == 0 || want[types.ContainerObject] {
		view = s.taskView(r.Context(), "")
	}
	return writeJSON(w, http.StatusOK, convert.DiskUsage(du, ctrs.GetContainers(), vols, time.Now(), view, want))
}
