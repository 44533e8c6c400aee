package scheduler

import (
	"strings"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// platformFilter keeps nodes whose OS and architecture match one of the
// platforms the service's image is built for (Placement.platforms, which
// docker's CLI fills from the registry), as swarmkit's PlatformFilter.
type platformFilter struct{ platforms []*minswv1.Platform }

func (f platformFilter) pass(n *minswv1.Node) bool {
	os, arch := n.GetDescription().GetOs(), normArch(n.GetDescription().GetArchitecture())
	for _, p := range f.platforms {
		if (p.GetOs() == "" || strings.EqualFold(p.GetOs(), os)) &&
			(p.GetArchitecture() == "" || normArch(p.GetArchitecture()) == arch) {
			return true
		}
	}
	return false
}

// explain uses swarmkit's words.
func (platformFilter) explain(count int) string {
	return "unsupported platform on " + nodes(count)
}

// normArch names an architecture as Go and OCI images do: a node that
// reports uname's x86_64 or aarch64 runs amd64 or arm64 images.
func normArch(a string) string {
	switch a = strings.ToLower(a); a {
	case "x86_64", "x86-64":
		return "amd64"
	case "aarch64":
		return "arm64"
	case "i386", "i686":
		return "386"
	}
	return a
}
