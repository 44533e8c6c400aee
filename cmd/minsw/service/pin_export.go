package service

import (
	"context"
	"io"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// PinImage is service create's image resolution, for stack deploy's
// --resolve-image: image pinned to its registry digest and the platforms
// it is built for, or image as given with docker's warning.
func PinImage(ctx context.Context, errOut io.Writer, images minswv1.ImagesClient, image string) (string, []*minswv1.Platform) {
	return pinImage(ctx, errOut, images, image, "", false)
}
