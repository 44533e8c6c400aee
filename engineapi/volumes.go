package engineapi

import (
	"net/http"
	"strconv"

	"github.com/docker/docker/api/types/volume"

	"github.com/minsw/minsw/engineapi/convert"
	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// This node's volumes (the local driver, as `minsw volume` manages them):
// docker volume ls|inspect|create|rm|prune, and the volume step of
// `docker inspect NAME`.

func (s *Server) volumeList(w http.ResponseWriter, r *http.Request) error {
	args, err := convert.ParseFilters(r.URL.Query().Get("filters"), convert.VolumeFilterKeys...)
	if err != nil {
		return err
	}
	resp, err := s.b.Volumes.ListVolumes(r.Context(), &api.ListVolumesRequest{})
	if err != nil {
		return err
	}
	out := volume.ListResponse{Volumes: []*volume.Volume{}, Warnings: []string{}}
	for _, v := range resp.GetVolumes() {
		ok, err := convert.MatchVolume(args, v)
		if err != nil {
			return err
		}
		if ok {
			out.Volumes = append(out.Volumes, convert.Volume(v))
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) volumeInspect(w http.ResponseWriter, r *http.Request) error {
	resp, err := s.b.Volumes.InspectVolume(r.Context(), &api.InspectVolumeRequest{Name: r.PathValue("name")})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, convert.Volume(resp.GetVolume()))
}

func (s *Server) volumeCreate(w http.ResponseWriter, r *http.Request) error {
	var req volume.CreateOptions
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.ClusterVolumeSpec != nil {
		return errdefs.Unimplemented("cluster volumes are not supported by minsw: its volumes are local to each node")
	}
	resp, err := s.b.Volumes.CreateVolume(r.Context(), &api.CreateVolumeRequest{Name: req.Name, Driver: req.Driver, Labels: req.Labels, DriverOpts: req.DriverOpts})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, convert.Volume(resp.GetVolume()))
}

func (s *Server) volumeRemove(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.b.Volumes.RemoveVolume(r.Context(), &api.RemoveVolumeRequest{Name: r.PathValue("name"), Force: boolValue(r, "force")}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// volumePrune removes the unused anonymous volumes, or every unused one
// with the filter all=true, as docker's API 1.42 and later.
func (s *Server) volumePrune(w http.ResponseWriter, r *http.Request) error {
	args, err := convert.ParseFilters(r.URL.Query().Get("filters"), "all")
	if err != nil {
		return err
	}
	all := false
	if vals := args.Get("all"); len(vals) > 0 {
		if len(vals) > 1 {
			return errdefs.InvalidArgument("invalid filter 'all': only one value is expected")
		}
		if all, err = strconv.ParseBool(vals[0]); err != nil {
			return errdefs.InvalidArgument("invalid filter 'all=%s': want true or false", vals[0])
		}
	}
	resp, err := s.b.Volumes.PruneVolumes(r.Context(), &api.PruneVolumesRequest{All: all})
	if err != nil {
		return err
	}
	deleted := resp.GetVolumesDeleted()
	if deleted == nil {
		deleted = []string{}
	}
	return writeJSON(w, http.StatusOK, volume.PruneReport{VolumesDeleted: deleted, SpaceReclaimed: resp.GetSpaceReclaimed()})
}
