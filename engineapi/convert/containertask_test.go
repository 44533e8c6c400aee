package convert

import (
	"testing"

	"github.com/docker/docker/api/types/filters"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

func taskContainer() (*api.Container, *TaskView) {
	c := &api.Container{Id: "0123456789ab", Name: "web.1.t1", Image: "nginx:alpine", State: "running",
		Health: api.HealthState_HEALTH_STATE_HEALTHY, Labels: map[string]string{"minsw.task.id": "t1", "minsw.service.name": "web"}}
	task := &api.Task{Id: "t1", Spec: &api.TaskSpec{
		Resources: &api.ResourceRequirements{Limits: &api.Resources{MemoryBytes: 64 << 20, NanoCpus: 500_000_000, Pids: 100}},
		Container: &api.ContainerSpec{Env: []string{"A=1"}, Mounts: []*api.Mount{
			{Type: api.MountType_MOUNT_TYPE_VOLUME, Source: "data", Target: "/data"},
			{Type: api.MountType_MOUNT_TYPE_BIND, Source: "/srv", Target: "/srv", Readonly: true},
		}},
		Networks: []*api.NetworkAttachmentConfig{{Target: "net1", Aliases: []string{"web"}}},
	}, Networks: []*api.NetworkAttachment{
		{NetworkId: "ingress0ingress0ingress0i", Addresses: []string{"10.0.0.8/24"}, EndpointId: "e1"},
		{NetworkId: "net1", Addresses: []string{"10.20.0.3/24"}, EndpointId: "e2"},
	}}
	return c, &TaskView{Tasks: map[string]*api.Task{"t1": task},
		Networks: map[string]string{"ingress0ingress0ingress0i": "ingress", "net1": "mynet"},
		Volumes:  map[string]string{"data": "/var/lib/minsw/volumes/data/_data"}}
}

func TestContainerShowsItsTasksNetworksAndMounts(t *testing.T) {
	c, v := taskContainer()
	in := ContainerInspect(c, v)
	ing, my := in.NetworkSettings.Networks["ingress"], in.NetworkSettings.Networks["mynet"]
	if ing == nil || my == nil || ing.IPAddress != "10.0.0.8" || ing.IPPrefixLen != 24 || ing.EndpointID != "e1" || ing.MacAddress != "02:42:0a:00:00:08" {
		t.Fatalf("networks %+v %+v", ing, my)
	}
	if len(my.Aliases) != 1 || my.Aliases[0] != "web" || my.NetworkID != "net1" {
		t.Fatalf("mynet %+v", my)
	}
	if len(in.Mounts) != 2 || in.Mounts[0].Destination != "/data" || in.Mounts[0].Name != "data" || in.Mounts[0].Source != "/var/lib/minsw/volumes/data/_data" || !in.Mounts[0].RW ||
		in.Mounts[1].Type != "bind" || in.Mounts[1].Source != "/srv" || in.Mounts[1].RW || in.Mounts[1].Propagation != "rprivate" {
		t.Fatalf("mounts %+v", in.Mounts)
	}
	if in.Config.Env[0] != "A=1" {
		t.Fatalf("env %v", in.Config.Env)
	}
	if hc := in.HostConfig; hc.Memory != 64<<20 || hc.NanoCPUs != 500_000_000 || hc.PidsLimit == nil || *hc.PidsLimit != 100 {
		t.Fatalf("host config %+v", hc.Resources)
	}
	s := ContainerSummary(c, c.GetCreatedAt().AsTime(), v)
	if len(s.NetworkSettings.Networks) != 2 || len(s.Mounts) != 2 {
		t.Fatalf("summary %+v %+v", s.NetworkSettings, s.Mounts)
	}
	// Without a view (a worker) the shapes are still there, empty.
	if in := ContainerInspect(c, nil); in.NetworkSettings == nil || len(in.NetworkSettings.Networks) != 0 {
		t.Fatalf("no view: %+v", in.NetworkSettings)
	}
}

func TestContainerFilters(t *testing.T) {
	c, v := taskContainer()
	for _, f := range []struct {
		name string
		args filters.Args
		want bool
	}{
		{"its network by name", filters.NewArgs(filters.Arg("network", "mynet")), true},
		{"its network by id", filters.NewArgs(filters.Arg("network", "net1")), true},
		{"another network", filters.NewArgs(filters.Arg("network", "other")), false},
		{"its volume", filters.NewArgs(filters.Arg("volume", "data")), true},
		{"its mount path", filters.NewArgs(filters.Arg("volume", "/srv")), true},
		{"a volume it lacks", filters.NewArgs(filters.Arg("volume", "other")), false},
		{"ancestor without tag", filters.NewArgs(filters.Arg("ancestor", "nginx:alpine")), true},
		{"ancestor another tag", filters.NewArgs(filters.Arg("ancestor", "nginx")), false},
		{"healthy", filters.NewArgs(filters.Arg("health", "healthy")), true},
		{"no health check", filters.NewArgs(filters.Arg("health", "none")), false},
		{"is a task", filters.NewArgs(filters.Arg("is-task", "true")), true},
		{"not a task", filters.NewArgs(filters.Arg("is-task", "false")), false},
		{"exited 0 while running", filters.NewArgs(filters.Arg("exited", "0")), false},
		{"docker's swarm label", filters.NewArgs(filters.Arg("label", "com.docker.swarm.task.id=t1")), true},
	} {
		if got := MatchContainer(f.args, c, v); got != f.want {
			t.Errorf("%s: got %v, want %v", f.name, got, f.want)
		}
	}
	exited := &api.Container{State: "exited", ExitCode: 3, Image: "busybox"}
	if !MatchContainer(filters.NewArgs(filters.Arg("exited", "3"), filters.Arg("ancestor", "busybox:latest")), exited, nil) {
		t.Error("exited=3 ancestor=busybox:latest should match an exited busybox")
	}
}
