package stack

import (
	"context"
	"io"

	"github.com/docker/docker/api/types/swarm"

	"github.com/minsw/minsw/cmd/minsw/service"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/stack"
)

// resolveImages is docker's stack deploy --resolve-image: "always" pins
// every service's image to its registry digest and platforms (as service
// create does), "changed" only those whose image in the file differs from
// the deployed one's, "never" none. A service whose image did not change
// and is not looked up keeps what the last deploy pinned, so a redeploy
// does not update it for nothing.
func resolveImages(ctx context.Context, errOut io.Writer, images minswv1.ImagesClient, st *stack.Stack, deployed []*minswv1.Service, mode string) {
	byName := map[string]*minswv1.Service{}
	for _, s := range deployed {
		byName[s.GetSpec().GetName()] = s
	}
	for i := range st.Services {
		s := &st.Services[i]
		if s.TaskTemplate.ContainerSpec == nil {
			continue
		}
		cur, exists := byName[s.Name]
		unchanged := exists && cur.GetSpec().GetLabels()[stack.ImageLabel] == s.Labels[stack.ImageLabel]
		if mode == "always" || (mode == "changed" && !unchanged) {
			image, platforms := service.PinImage(ctx, errOut, images, s.TaskTemplate.ContainerSpec.Image)
			s.TaskTemplate.ContainerSpec.Image = image
			setPlatforms(s, platforms)
			continue
		}
		if unchanged {
			s.TaskTemplate.ContainerSpec.Image = cur.GetSpec().GetTask().GetContainer().GetImage()
			setPlatforms(s, cur.GetSpec().GetTask().GetPlacement().GetPlatforms())
		}
	}
}

func setPlatforms(s *swarm.ServiceSpec, ps []*minswv1.Platform) {
	if len(ps) == 0 {
		return
	}
	if s.TaskTemplate.Placement == nil {
		s.TaskTemplate.Placement = &swarm.Placement{}
	}
	s.TaskTemplate.Placement.Platforms = nil
	for _, p := range ps {
		s.TaskTemplate.Placement.Platforms = append(s.TaskTemplate.Placement.Platforms, swarm.Platform{OS: p.GetOs(), Architecture: p.GetArchitecture()})
	}
}
