package scheduler

import (
	"testing"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

func platformNode(id, os, arch string) *minswv1.Node {
	n := node(id, id)
	n.Description.Os, n.Description.Architecture = os, arch
	return n
}

func withPlatforms(t *minswv1.Task, ps ...*minswv1.Platform) *minswv1.Task {
	if t.Spec.Placement == nil {
		t.Spec.Placement = &minswv1.Placement{}
	}
	t.Spec.Placement.Platforms = ps
	return t
}

func TestPlatforms(t *testing.T) {
	amd64 := &minswv1.Platform{Os: "linux", Architecture: "amd64"}
	arm64 := &minswv1.Platform{Os: "linux", Architecture: "arm64"}
	for _, tc := range []struct {
		name     string
		nodes    []*minswv1.Node
		task     *minswv1.Task
		placed   string
		unplaced string
	}{
		{"an amd64 image goes to the amd64 node", []*minswv1.Node{platformNode("pi", "linux", "arm64"), platformNode("pc", "linux", "amd64")},
			withPlatforms(pendingTask("web.1", "web"), amd64), "pc", ""},
		{"uname's x86_64 runs amd64 images", []*minswv1.Node{platformNode("pi", "linux", "aarch64"), platformNode("pc", "linux", "x86_64")},
			withPlatforms(pendingTask("web.1", "web"), amd64), "pc", ""},
		{"a multi-arch image goes anywhere it is built for", []*minswv1.Node{platformNode("pi", "linux", "arm64")},
			withPlatforms(pendingTask("web.1", "web"), amd64, arm64), "pi", ""},
		{"no platforms: any node", []*minswv1.Node{platformNode("pi", "linux", "arm64")},
			pendingTask("web.1", "web"), "pi", ""},
		{"no node of the image's platform says why", []*minswv1.Node{platformNode("pi", "linux", "arm64"), platformNode("pi2", "linux", "arm64")},
			withPlatforms(pendingTask("web.1", "web"), amd64), "", "no suitable node (unsupported platform on 2 nodes)"},
		{"a windows image on linux nodes", []*minswv1.Node{platformNode("pc", "linux", "amd64")},
			withPlatforms(pendingTask("web.1", "web"), &minswv1.Platform{Os: "windows", Architecture: "amd64"}), "", "no suitable node (unsupported platform on 1 node)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := Schedule(tc.nodes, nil, []*minswv1.Task{tc.task})
			if got := plan.Assignments()["web.1"]; got != tc.placed {
				t.Fatalf("placed on %q, want %q (plan %+v)", got, tc.placed, plan)
			}
			if got := plan.Unplaced()["web.1"]; got != tc.unplaced {
				t.Fatalf("reason %q, want %q", got, tc.unplaced)
			}
		})
	}
}
