package convert

import (
	"time"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/volume"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// DiskUsageTypes are GET /system/df's type values.
var DiskUsageTypes = []types.DiskUsageObject{types.ContainerObject, types.ImageObject, types.VolumeObject, types.BuildCacheObject}

// DiskUsage is docker system df's body: the node's images (each with the
// count of containers made from it), its task containers with their
// writable layers, and its volumes with their sizes and users. minsw
// builds nothing, so the build cache is empty. want selects the kinds
// (empty: all).
func DiskUsage(du *api.DiskUsageResponse, ctrs []*api.Container, vols []*api.Volume, now time.Time, v *TaskView, want map[types.DiskUsageObject]bool) types.DiskUsage {
	all := len(want) == 0
	out := types.DiskUsage{}
	if all || want[types.ImageObject] {
		out.Images = []*image.Summary{}
		out.LayersSize = du.GetLayersSize()
		for _, img := range du.GetImages() {
			s := &image.Summary{
				ID: img.GetId(), RepoTags: nonNil(img.GetRepoTags()), RepoDigests: nonNil(img.GetRepoDigests()),
				Created: ts(img.GetCreated()).Unix(), Size: img.GetSize(), SharedSize: img.GetSharedSize(), Labels: map[string]string{},
			}
			for _, c := range ctrs {
				if imageOf(c.GetImage(), img) {
					s.Containers++
				}
			}
			out.Images = append(out.Images, s)
		}
	}
	if all || want[types.ContainerObject] {
		sizes := map[string]int64{}
		for _, cu := range du.GetContainers() {
			sizes[cu.GetId()] = cu.GetSizeRw()
		}
		out.Containers = []*container.Summary{}
		for _, c := range ctrs {
			s := ContainerSummary(c, now, v)
			if n, ok := sizes[c.GetId()]; ok && n >= 0 {
				s.SizeRw = n
			}
			out.Containers = append(out.Containers, &s)
		}
	}
	if all || want[types.VolumeObject] {
		sizes := map[string]int64{}
		for _, vu := range du.GetVolumes() {
			sizes[vu.GetName()] = vu.GetSize()
		}
		out.Volumes = []*volume.Volume{}
		for _, vol := range vols {
			d := Volume(vol)
			size, ok := sizes[vol.GetName()]
			if !ok {
				size = -1
			}
			d.UsageData = &volume.UsageData{Size: size, RefCount: int64(len(vol.GetUsers()))}
			out.Volumes = append(out.Volumes, d)
		}
	}
	if all || want[types.BuildCacheObject] {
		out.BuildCache = []*build.CacheRecord{}
	}
	return out
}

// imageOf says whether a container's image reference (name[:tag], maybe
// pinned @digest, in docker's short form or not) is img.
func imageOf(ref string, img *api.ImageUsage) bool {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return false
	}
	if d, ok := named.(reference.Digested); ok {
		for _, rd := range img.GetRepoDigests() {
			if n, err := reference.ParseNormalizedNamed(rd); err == nil {
				if nd, ok := n.(reference.Digested); ok && nd.Digest() == d.Digest() {
					return true
				}
			}
		}
	}
	want := reference.TagNameOnly(named)
	if t, ok := want.(reference.Tagged); ok {
		want, _ = reference.WithTag(reference.TrimNamed(want), t.Tag())
	}
	for _, tag := range img.GetRepoTags() {
		if n, err := reference.ParseNormalizedNamed(tag); err == nil && reference.TagNameOnly(n).String() == want.String() {
			return true
		}
	}
	return false
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
