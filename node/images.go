package node

import (
	"context"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/internal/registryresolve"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// imagesAPI implements api.ImagesServer with the registry lookup the Engine
// API's /distribution uses, so minsw's CLI and docker's pin a tag to the
// same digest.
type imagesAPI struct {
	api.UnimplementedImagesServer
	r *registryresolve.Resolver
}

func (s *imagesAPI) DistributionInspect(ctx context.Context, r *api.DistributionInspectRequest) (*api.DistributionInspectResponse, error) {
	if r.GetImage() == "" {
		return nil, errdefs.InvalidArgument("no image name given")
	}
	creds, err := registryresolve.ParseAuth(r.GetRegistryAuth())
	if err != nil {
		return nil, err
	}
	desc, platforms, err := s.r.Resolve(ctx, r.GetImage(), creds)
	if err != nil {
		return nil, err
	}
	out := &api.DistributionInspectResponse{Digest: desc.Digest.String(), MediaType: desc.MediaType, Size: desc.Size}
	for _, p := range platforms {
		out.Platforms = append(out.Platforms, &api.Platform{Os: p.OS, Architecture: p.Architecture})
	}
	return out, nil
}
