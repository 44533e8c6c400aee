package service

import (
	"context"
	"fmt"
	"io"

	"github.com/distribution/reference"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// pinImage is docker's image resolution for service create and update
// --image: unless --no-resolve-image, the daemon asks the registry what the
// tag names now and the service gets name:tag@sha256:..., so every node runs
// that image even if the tag moves. A reference already carrying a digest is
// kept. When the registry cannot be asked, the tag is kept with docker's
// warning; a daemon that does not look such names up at all (a Docker Hub
// name on a node without --registry-mirror) keeps it silently. The
// platforms the image is built for come back too, for the service's
// placement, as docker's CLI sets them.
func pinImage(ctx context.Context, errOut io.Writer, images minswv1.ImagesClient, image, registryAuth string, noResolve bool) (string, []*minswv1.Platform) {
	if noResolve || image == "" {
		return image, nil
	}
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return image, nil // the API refuses it with its own message
	}
	if _, ok := named.(reference.Canonical); ok {
		return image, nil
	}
	resp, err := images.DistributionInspect(ctx, &minswv1.DistributionInspectRequest{Image: image, RegistryAuth: registryAuth})
	if status.Code(err) == codes.Unimplemented {
		return image, nil
	}
	if err == nil {
		if pinned, perr := withDigest(named, resp.GetDigest()); perr == nil {
			return pinned, resp.GetPlatforms()
		}
	}
	fmt.Fprintf(errOut, "image %s could not be accessed on a registry to record\nits digest. Each node will access %s independently,\npossibly leading to different nodes running different\nversions of the image.\n", image, image)
	return image, nil
}

// withDigest is named with its tag (latest when it has none) and dgst, as
// docker shows it: busybox:latest@sha256:...
func withDigest(named reference.Named, dgst string) (string, error) {
	s := reference.FamiliarString(reference.TagNameOnly(named)) + "@" + dgst
	if _, err := reference.ParseNormalizedNamed(s); err != nil {
		return "", err
	}
	return s, nil
}
