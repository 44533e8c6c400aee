package node

import (
	"context"
	"sort"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/agent"
	"github.com/minsw/minsw/worker/volume"
)

// volumesAPI implements api.VolumesServer over the node's volume store;
// which volumes are in use comes from the runtime's containers.
type volumesAPI struct {
	api.UnimplementedVolumesServer
	n *Node
}

func volumeProto(v volume.Volume, users []string) *api.Volume {
	out := &api.Volume{Name: v.Name, Driver: v.Driver, Mountpoint: v.Mountpoint, Labels: v.Labels, Options: v.Options, Users: users}
	if !v.CreatedAt.IsZero() {
		out.CreatedAt = timestamppb.New(v.CreatedAt)
	}
	return out
}

func (s *volumesAPI) users(ctx context.Context) (map[string][]string, error) {
	u, err := agent.VolumeUsers(ctx, s.n.cfg.Executor)
	if err != nil {
		return nil, errdefs.Unavailable("cannot tell which volumes are in use: %v", err)
	}
	return u, nil
}

func (s *volumesAPI) ListVolumes(ctx context.Context, _ *api.ListVolumesRequest) (*api.ListVolumesResponse, error) {
	vs, err := s.n.volumes.List()
	if err != nil {
		return nil, err
	}
	users, err := s.users(ctx)
	if err != nil {
		return nil, err
	}
	out := &api.ListVolumesResponse{}
	for _, v := range vs {
		out.Volumes = append(out.Volumes, volumeProto(v, users[v.Name]))
	}
	return out, nil
}

func (s *volumesAPI) InspectVolume(ctx context.Context, r *api.InspectVolumeRequest) (*api.InspectVolumeResponse, error) {
	v, err := s.n.volumes.Get(r.GetName())
	if err != nil {
		return nil, err
	}
	users, err := s.users(ctx)
	if err != nil {
		return nil, err
	}
	return &api.InspectVolumeResponse{Volume: volumeProto(v, users[v.Name])}, nil
}

func (s *volumesAPI) CreateVolume(_ context.Context, r *api.CreateVolumeRequest) (*api.CreateVolumeResponse, error) {
	if d := r.GetDriver(); d != "" && d != volume.Driver {
		return nil, errdefs.InvalidArgument("volume driver %q is not supported: minsw volumes use the local driver", d)
	}
	var v volume.Volume
	var err error
	if r.GetName() == "" {
		v, err = s.n.volumes.CreateAnonymous()
	} else {
		v, err = s.n.volumes.Create(r.GetName(), r.GetLabels(), r.GetDriverOpts())
	}
	if err != nil {
		return nil, err
	}
	return &api.CreateVolumeResponse{Volume: volumeProto(v, nil)}, nil
}

func (s *volumesAPI) RemoveVolume(ctx context.Context, r *api.RemoveVolumeRequest) (*api.RemoveVolumeResponse, error) {
	users, err := s.users(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.n.volumes.Remove(r.GetName(), users[r.GetName()], r.GetForce()); err != nil {
		return nil, err
	}
	return &api.RemoveVolumeResponse{}, nil
}

func (s *volumesAPI) PruneVolumes(ctx context.Context, r *api.PruneVolumesRequest) (*api.PruneVolumesResponse, error) {
	users, err := s.users(ctx)
	if err != nil {
		return nil, err
	}
	removed, size, err := s.n.volumes.Prune(func(name string) bool { return len(users[name]) > 0 }, r.GetAll())
	if err != nil {
		return nil, err
	}
	sort.Strings(removed)
	return &api.PruneVolumesResponse{VolumesDeleted: removed, SpaceReclaimed: size}, nil
}
