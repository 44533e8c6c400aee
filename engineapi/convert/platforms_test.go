package convert

import (
	"testing"

	"github.com/docker/docker/api/types/swarm"
)

// docker's CLI sets the placement platforms from the registry lookup; they
// go to the scheduler and come back in service inspect.
func TestPlacementPlatformsBothWays(t *testing.T) {
	s := cliSpec()
	s.TaskTemplate.Placement = &swarm.Placement{Platforms: []swarm.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}}
	spec, err := ServiceSpecFrom(s)
	if err != nil {
		t.Fatal(err)
	}
	ps := spec.GetTask().GetPlacement().GetPlatforms()
	if len(ps) != 2 || ps[0].GetOs() != "linux" || ps[0].GetArchitecture() != "amd64" || ps[1].GetArchitecture() != "arm64" {
		t.Fatalf("minsw platforms %v", ps)
	}
	out := TaskSpec(spec.GetTask())
	if out.Placement == nil || len(out.Placement.Platforms) != 2 || out.Placement.Platforms[1] != (swarm.Platform{OS: "linux", Architecture: "arm64"}) {
		t.Fatalf("docker platforms %+v", out.Placement)
	}
}
