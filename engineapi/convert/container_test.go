package convert

import (
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"google.golang.org/protobuf/types/known/timestamppb"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

func TestContainerStatus(t *testing.T) {
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(now.Add(-d)) }
	cases := []struct {
		c    *api.Container
		want string
	}{
		{&api.Container{State: "running", StartedAt: at(500 * time.Millisecond)}, "Up Less than a second"},
		{&api.Container{State: "running", StartedAt: at(90 * time.Second)}, "Up About a minute"},
		{&api.Container{State: "running", StartedAt: at(19 * time.Minute), Health: api.HealthState_HEALTH_STATE_HEALTHY}, "Up 19 minutes (healthy)"},
		{&api.Container{State: "running", StartedAt: at(3 * time.Hour), Health: api.HealthState_HEALTH_STATE_STARTING}, "Up 3 hours (health: starting)"},
		{&api.Container{State: "exited", ExitCode: 137, FinishedAt: at(3 * 24 * time.Hour)}, "Exited (137) 3 days ago"},
		{&api.Container{State: "created"}, "Created"},
	}
	for _, c := range cases {
		if got := ContainerStatus(c.c, now); got != c.want {
			t.Errorf("%v: got %q, want %q", c.c, got, c.want)
		}
	}
}

func TestContainerBothShapes(t *testing.T) {
	c := &api.Container{Id: "36dce35d56e8", Name: "client.1.sg9b", Image: "net-box", Command: []string{"ping", "8.8.8.8"}, State: "running",
		Labels: map[string]string{"com.docker.swarm.service.name": "client"}, Pid: 42}
	s := ContainerSummary(c, time.Now(), nil)
	if s.Names[0] != "/client.1.sg9b" || s.Command != "ping 8.8.8.8" || s.State != "running" {
		t.Fatalf("summary %+v", s)
	}
	in := ContainerInspect(c, nil)
	if in.Name != "/client.1.sg9b" || in.Path != "ping" || in.Args[0] != "8.8.8.8" || !in.State.Running || in.State.Pid != 42 {
		t.Fatalf("inspect %+v %+v", in.ContainerJSONBase, in.State)
	}
	for _, f := range []struct {
		args filters.Args
		want bool
	}{
		{filters.NewArgs(filters.Arg("name", "client")), true},
		{filters.NewArgs(filters.Arg("name", "/client.1")), true},
		{filters.NewArgs(filters.Arg("name", "web")), false},
		{filters.NewArgs(filters.Arg("label", "com.docker.swarm.service.name=client")), true},
		{filters.NewArgs(filters.Arg("status", "exited")), false},
		{filters.NewArgs(filters.Arg("id", "36dc")), true},
	} {
		if MatchContainer(f.args, c, nil) != f.want {
			t.Errorf("filter %v: want %v", f.args, f.want)
		}
	}
}
