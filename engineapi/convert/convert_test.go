package convert

import (
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

func u64(v uint64) *uint64               { return &v }
func dur(d time.Duration) *time.Duration { return &d }

// cliSpec is what `docker service create --name web --replicas 2 -e A=1
// --network mynet -p 8080:80 --constraint node.role==worker
// --restart-condition on-failure containous/whoami` sends: empty structs
// for options not given, docker's defaults for the update config.
func cliSpec() swarm.ServiceSpec {
	return swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: "web", Labels: map[string]string{}},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{
				Image: "containous/whoami:latest", Env: []string{"A=1"}, Labels: map[string]string{},
				Privileges: &swarm.Privileges{}, DNSConfig: &swarm.DNSConfig{}, Mounts: nil,
			},
			Resources:     &swarm.ResourceRequirements{Limits: &swarm.Limit{}, Reservations: &swarm.Resources{}},
			RestartPolicy: &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure, Delay: dur(5 * time.Second), MaxAttempts: u64(0)},
			Placement:     &swarm.Placement{Constraints: []string{"node.role==worker"}},
			Networks:      []swarm.NetworkAttachmentConfig{{Target: "mynet", Aliases: []string{"web"}}},
		},
		Mode:           swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: u64(2)}},
		UpdateConfig:   &swarm.UpdateConfig{Parallelism: 1, FailureAction: "pause", Order: "stop-first", Monitor: 5 * time.Second},
		RollbackConfig: &swarm.UpdateConfig{Parallelism: 1, FailureAction: "pause", Order: "stop-first"},
		EndpointSpec:   &swarm.EndpointSpec{Mode: "vip", Ports: []swarm.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "ingress"}}},
	}
}

func TestServiceSpecFromDockerCLI(t *testing.T) {
	got, err := ServiceSpecFrom(cliSpec())
	if err != nil {
		t.Fatal(err)
	}
	want := &api.ServiceSpec{
		Name: "web",
		Task: &api.TaskSpec{
			Container: &api.ContainerSpec{Image: "containous/whoami:latest", Env: []string{"A=1"}},
			Restart:   &api.RestartPolicy{Condition: api.RestartCondition_RESTART_CONDITION_ON_FAILURE, Delay: durationpb.New(5 * time.Second)},
			Placement: &api.Placement{Constraints: []string{"node.role==worker"}},
			Networks:  []*api.NetworkAttachmentConfig{{Target: "mynet", Aliases: []string{"web"}}},
		},
		Mode:     &api.ServiceSpec_Replicated{Replicated: &api.ReplicatedService{Replicas: 2}},
		Endpoint: &api.EndpointSpec{Ports: []*api.PortConfig{{TargetPort: 80, PublishedPort: 8080}}},
		Update:   &api.UpdateConfig{Parallelism: 1, Monitor: durationpb.New(5 * time.Second)},
		Rollback: &api.UpdateConfig{Parallelism: 1},
	}
	if !proto.Equal(got, want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
}

// A spec minsw shows must come back unchanged: docker's update sends the
// inspected spec back with one field changed.
func TestServiceSpecRoundTrip(t *testing.T) {
	specs := map[string]*api.ServiceSpec{
		"replicated with everything minsw has": {
			Name: "web", Labels: map[string]string{"com.docker.stack.namespace": "demo"},
			Task: &api.TaskSpec{
				Container: &api.ContainerSpec{Image: "whoami", Command: []string{"/whoami"}, Args: []string{"-port", "80"}, Env: []string{"A=1"},
					Hostname: "h", Dir: "/", User: "nobody", Labels: map[string]string{"l": "v"}, StopGracePeriod: durationpb.New(3 * time.Second)},
				Restart:     &api.RestartPolicy{Condition: api.RestartCondition_RESTART_CONDITION_NONE, Delay: durationpb.New(time.Second), MaxAttempts: 3, Window: durationpb.New(time.Minute)},
				Placement:   &api.Placement{Constraints: []string{"node.hostname==a"}},
				Networks:    []*api.NetworkAttachmentConfig{{Target: "n1", Aliases: []string{"web"}}},
				ForceUpdate: 2,
			},
			Mode:     &api.ServiceSpec_Replicated{Replicated: &api.ReplicatedService{Replicas: 3}},
			Endpoint: &api.EndpointSpec{Ports: []*api.PortConfig{{Protocol: api.PortProtocol_PORT_PROTOCOL_UDP, TargetPort: 53, PublishedPort: 5353, PublishMode: api.PublishMode_PUBLISH_MODE_HOST}}},
			Update:   &api.UpdateConfig{Parallelism: 2, Delay: durationpb.New(time.Second), Monitor: durationpb.New(time.Second)},
		},
		"mounts, secrets, configs, a health check, update and rollback policies": {
			Name: "db",
			Task: &api.TaskSpec{Container: &api.ContainerSpec{Image: "postgres",
				Mounts: []*api.Mount{
					{Type: api.MountType_MOUNT_TYPE_VOLUME, Source: "data", Target: "/data", VolumeOptions: &api.VolumeOptions{Nocopy: true, Labels: map[string]string{"a": "b"}, DriverConfig: &api.Driver{Name: "local", Options: map[string]string{"o": "bind"}}}},
					{Type: api.MountType_MOUNT_TYPE_BIND, Source: "/srv", Target: "/srv", Readonly: true, BindOptions: &api.BindOptions{Propagation: api.MountPropagation_MOUNT_PROPAGATION_RSLAVE}},
					{Type: api.MountType_MOUNT_TYPE_TMPFS, Target: "/tmp", TmpfsOptions: &api.TmpfsOptions{SizeBytes: 1 << 20, Mode: 0o700}},
				},
				Secrets:     []*api.SecretReference{{SecretId: "s1", SecretName: "pw", File: &api.FileTarget{Name: "pw", Uid: "0", Gid: "0", Mode: 0o400}}},
				Configs:     []*api.ConfigReference{{ConfigId: "c1", ConfigName: "conf", File: &api.FileTarget{Name: "/etc/conf", Uid: "1", Gid: "2", Mode: 0o444}}},
				Healthcheck: &api.HealthConfig{Test: []string{"CMD", "true"}, Interval: durationpb.New(time.Second), Timeout: durationpb.New(2 * time.Second), Retries: 3, StartPeriod: durationpb.New(5 * time.Second)},
			}},
			Mode:     &api.ServiceSpec_Replicated{Replicated: &api.ReplicatedService{Replicas: 1}},
			Update:   &api.UpdateConfig{Parallelism: 1, FailureAction: api.UpdateFailureAction_UPDATE_FAILURE_ACTION_ROLLBACK, MaxFailureRatio: 0.25, Order: api.UpdateOrder_UPDATE_ORDER_START_FIRST},
			Rollback: &api.UpdateConfig{Parallelism: 2, FailureAction: api.UpdateFailureAction_UPDATE_FAILURE_ACTION_CONTINUE},
		},
		"the container options, resources, log driver, placement, a job, dnsrr": {
			Name: "batch",
			Task: &api.TaskSpec{
				Container: &api.ContainerSpec{Image: "busybox", Groups: []string{"wheel"}, Init: true, ReadOnly: true, CapAdd: []string{"NET_ADMIN"}, CapDrop: []string{"ALL"},
					Sysctls: map[string]string{"net.core.somaxconn": "1024"}, Ulimits: []*api.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}},
					OomScoreAdj: 100, StopSignal: "SIGINT", DnsConfig: &api.DNSConfig{Nameservers: []string{"10.0.0.2"}, Search: []string{"lab"}, Options: []string{"ndots:1"}},
					Hosts: []string{"10.0.0.9 db"}},
				Resources: &api.ResourceRequirements{Limits: &api.Resources{NanoCpus: 5e8, MemoryBytes: 1 << 28, Pids: 100},
					Reservations: &api.Resources{NanoCpus: 1e8, MemoryBytes: 1 << 20, Generic: []*api.GenericResource{{Kind: "gpu", Value: 1}}}},
				LogDriver: &api.LogDriver{Name: "local", Options: map[string]string{"max-size": "10m"}},
				Placement: &api.Placement{Constraints: []string{"node.role==worker"}, Preferences: []*api.PlacementPreference{{SpreadDescriptor: "node.labels.zone"}}, MaxReplicas: 2},
			},
			Mode:     &api.ServiceSpec_ReplicatedJob{ReplicatedJob: &api.ReplicatedJob{MaxConcurrent: 2, TotalCompletions: 5}},
			Endpoint: &api.EndpointSpec{Mode: api.EndpointMode_ENDPOINT_MODE_DNSRR},
		},
		"global, nothing else": {
			Name: "agent",
			Task: &api.TaskSpec{Container: &api.ContainerSpec{Image: "busybox"}},
			Mode: &api.ServiceSpec_Global{Global: &api.GlobalService{}},
		},
	}
	for name, spec := range specs {
		t.Run(name, func(t *testing.T) {
			back, err := ServiceSpecFrom(ServiceSpec(spec))
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(back, spec) {
				t.Fatalf("round trip changed the spec:\ngot  %v\nwant %v", back, spec)
			}
		})
	}
}

func TestServiceSpecRefusesWhatMinswCannotDo(t *testing.T) {
	cases := map[string]struct {
		edit func(*swarm.ServiceSpec)
		kind errdefs.Kind
		want string
	}{
		"a volume subpath": {func(s *swarm.ServiceSpec) {
			m := mountOf("/data")
			m.Type, m.VolumeOptions = mount.TypeVolume, &mount.VolumeOptions{Subpath: "x"}
			s.TaskTemplate.ContainerSpec.Mounts = append(s.TaskTemplate.ContainerSpec.Mounts, m)
		}, errdefs.KindUnimplemented, "TaskTemplate.ContainerSpec.Mounts.VolumeOptions.Subpath"},
		"a named generic resource": {func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Resources.Reservations.GenericResources = []swarm.GenericResource{{NamedResourceSpec: &swarm.NamedGenericResource{Kind: "gpu", Value: "uuid"}}}
		}, errdefs.KindUnimplemented, "TaskTemplate.Resources.Reservations.GenericResources.NamedResourceSpec"},
		"no new privileges": {func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Privileges.NoNewPrivileges = true },
			errdefs.KindUnimplemented, "TaskTemplate.ContainerSpec.Privileges.NoNewPrivileges"},
		"a bad endpoint mode": {func(s *swarm.ServiceSpec) { s.EndpointSpec.Mode = "anycast" },
			errdefs.KindInvalidArgument, `invalid endpoint mode "anycast"`},
		"an unknown update order": {func(s *swarm.ServiceSpec) { s.UpdateConfig.Order = "sideways" },
			errdefs.KindInvalidArgument, `invalid UpdateConfig.Order "sideways"`},
		"no container spec": {func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec = nil },
			errdefs.KindInvalidArgument, "ContainerSpec must be provided"},
		"a bad restart condition": {func(s *swarm.ServiceSpec) { s.TaskTemplate.RestartPolicy.Condition = "sometimes" },
			errdefs.KindInvalidArgument, `invalid RestartCondition: "sometimes"`},
		"sctp": {func(s *swarm.ServiceSpec) { s.EndpointSpec.Ports[0].Protocol = swarm.PortConfigProtocolSCTP },
			errdefs.KindUnimplemented, "protocol sctp"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s := cliSpec()
			c.edit(&s)
			_, err := ServiceSpecFrom(s)
			if err == nil || errdefs.KindOf(err) != c.kind || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v (kind %v), want kind %v naming %q", err, errdefs.KindOf(err), c.kind, c.want)
			}
		})
	}
}

func TestNodeBothWays(t *testing.T) {
	n := &api.Node{
		Id:            "n1",
		Meta:          &api.Meta{Version: 7},
		Spec:          &api.NodeSpec{Labels: map[string]string{"zone": "a"}, DesiredRole: api.NodeRole_NODE_ROLE_MANAGER, Availability: api.NodeAvailability_NODE_AVAILABILITY_DRAIN},
		Description:   &api.NodeDescription{Hostname: "swarm-manager", Os: "linux", Architecture: "amd64", EngineVersion: "0.1.0"},
		Status:        &api.NodeStatus{State: api.NodeState_NODE_STATE_READY, Addr: "192.168.56.10"},
		ManagerStatus: &api.ManagerStatus{Leader: true, Addr: "192.168.56.10:2377", Reachability: api.Reachability_REACHABILITY_REACHABLE},
		Role:          api.NodeRole_NODE_ROLE_MANAGER,
	}
	d := Node(n)
	if d.Spec.Role != "manager" || d.Spec.Availability != "drain" || d.Status.State != "ready" || !d.ManagerStatus.Leader ||
		d.ManagerStatus.Reachability != "reachable" || d.Description.Hostname != "swarm-manager" || d.Version.Index != 7 {
		t.Fatalf("node shown as %+v", d)
	}
	back, err := NodeSpec(d.Spec)
	if err != nil || !proto.Equal(back, n.Spec) {
		t.Fatalf("node spec round trip: %v, %v", back, err)
	}
	d.Spec.Role = "boss"
	if _, err := NodeSpec(d.Spec); !errdefs.Is(err, errdefs.KindInvalidArgument) {
		t.Fatalf("role boss: %v", err)
	}
}

func TestServiceStatuses(t *testing.T) {
	web := &api.Service{Id: "web", Spec: &api.ServiceSpec{Mode: &api.ServiceSpec_Replicated{Replicated: &api.ReplicatedService{Replicas: 3}}}}
	agent := &api.Service{Id: "agent", Spec: &api.ServiceSpec{Mode: &api.ServiceSpec_Global{Global: &api.GlobalService{}}}}
	task := func(svc string, state, desired api.TaskState) *api.Task {
		return &api.Task{ServiceId: svc, DesiredState: desired, Status: &api.TaskStatus{State: state}}
	}
	R, S := api.TaskState_TASK_STATE_RUNNING, api.TaskState_TASK_STATE_SHUTDOWN
	got := ServiceStatuses([]*api.Service{web, agent}, []*api.Task{
		task("web", R, R), task("web", api.TaskState_TASK_STATE_PREPARING, R), task("web", S, S), task("web", R, S),
		task("agent", R, R), task("agent", R, R), task("agent", api.TaskState_TASK_STATE_FAILED, S),
		task("gone", R, R),
	})
	if w := got["web"]; w.RunningTasks != 1 || w.DesiredTasks != 3 {
		t.Fatalf("web: %+v, want 1/3", w)
	}
	if a := got["agent"]; a.RunningTasks != 2 || a.DesiredTasks != 2 {
		t.Fatalf("agent: %+v, want 2/2", a)
	}
}

func TestFilters(t *testing.T) {
	svc := &api.Service{Id: "abc123", Spec: &api.ServiceSpec{Name: "demo_web", Labels: map[string]string{"com.docker.stack.namespace": "demo"},
		Mode: &api.ServiceSpec_Replicated{Replicated: &api.ReplicatedService{}}}, SpecVersion: 2}
	cases := []struct {
		name string
		args filters.Args
		want bool
	}{
		{"no filter", filters.NewArgs(), true},
		{"stack label", filters.NewArgs(filters.Arg("label", "com.docker.stack.namespace=demo")), true},
		{"other stack", filters.NewArgs(filters.Arg("label", "com.docker.stack.namespace=other")), false},
		{"label key only", filters.NewArgs(filters.Arg("label", "com.docker.stack.namespace")), true},
		{"name prefix", filters.NewArgs(filters.Arg("name", "demo_")), true},
		{"id prefix", filters.NewArgs(filters.Arg("id", "abc")), true},
		{"wrong mode", filters.NewArgs(filters.Arg("mode", "global")), false},
		{"a job is not replicated", filters.NewArgs(filters.Arg("mode", "replicated-job")), false},
		{"one of two names", filters.NewArgs(filters.Arg("name", "x"), filters.Arg("name", "demo_web")), true},
	}
	for _, c := range cases {
		if got := MatchService(c.args, svc); got != c.want {
			t.Errorf("service %s: got %v", c.name, got)
		}
	}
	job := &api.Service{Spec: &api.ServiceSpec{Mode: &api.ServiceSpec_GlobalJob{GlobalJob: &api.GlobalJob{}}}}
	if !MatchService(filters.NewArgs(filters.Arg("mode", "global-job")), job) || MatchService(filters.NewArgs(filters.Arg("mode", "global")), job) {
		t.Error("a global job must pass mode=global-job and only that")
	}
	old := &api.Task{Id: "t1", ServiceId: "abc123", ServiceName: "demo_web", Slot: 1, SpecVersion: 1, DesiredState: api.TaskState_TASK_STATE_SHUTDOWN}
	cur := &api.Task{Id: "t2", ServiceId: "abc123", ServiceName: "demo_web", Slot: 1, SpecVersion: 2, DesiredState: api.TaskState_TASK_STATE_RUNNING}
	upToDate := filters.NewArgs(filters.Arg("_up-to-date", "true"))
	if MatchTask(upToDate, old, svc, nil, nil) || !MatchTask(upToDate, cur, svc, nil, nil) {
		t.Error("_up-to-date must keep only tasks of the service's current spec")
	}
	running := filters.NewArgs(filters.Arg("desired-state", "running"))
	if MatchTask(running, old, svc, nil, nil) || !MatchTask(running, cur, svc, nil, nil) {
		t.Error("desired-state=running")
	}
	stack := filters.NewArgs(filters.Arg("label", "com.docker.stack.namespace=demo"))
	if !MatchTask(stack, cur, svc, nil, nil) || MatchTask(stack, cur, nil, nil, nil) {
		t.Error("task label filters match the service's labels")
	}
	if MatchTask(filters.NewArgs(), cur, svc, map[string]bool{"other": true}, nil) {
		t.Error("service filter")
	}
	if _, err := ParseFilters(`{"colour":{"red":true}}`, ServiceFilterKeys...); !errdefs.Is(err, errdefs.KindInvalidArgument) || !strings.Contains(err.Error(), "invalid filter 'colour'") {
		t.Errorf("unknown filter key: %v", err)
	}
	if _, err := ParseFilters(`{"name":`, ServiceFilterKeys...); !errdefs.Is(err, errdefs.KindInvalidArgument) {
		t.Errorf("malformed filters: %v", err)
	}
}

func TestNetworkBothWays(t *testing.T) {
	spec, err := NetworkSpecFrom(network.CreateRequest{Name: "mynet", CreateOptions: network.CreateOptions{
		Driver: "overlay", Attachable: true, Labels: map[string]string{"com.docker.stack.namespace": "demo"},
		IPAM: &network.IPAM{Driver: "default", Config: []network.IPAMConfig{{Subnet: "10.0.9.0/24", Gateway: "10.0.9.1"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	want := &api.NetworkSpec{Name: "mynet", Driver: "overlay", Attachable: true, Subnet: "10.0.9.0/24", Gateway: "10.0.9.1",
		Labels: map[string]string{"com.docker.stack.namespace": "demo"}}
	if !proto.Equal(spec, want) {
		t.Fatalf("got %v", spec)
	}
	shown := Network(&api.Network{Id: "nid", Spec: spec, Subnet: "10.0.9.0/24", Gateway: "10.0.9.1", Vni: 4100})
	if shown.Scope != "swarm" || shown.Driver != "overlay" || shown.IPAM.Config[0].Subnet != "10.0.9.0/24" || shown.Options[VXLANIDOption] != "4100" || !shown.Attachable {
		t.Fatalf("network shown as %+v", shown)
	}
	for _, bad := range []network.CreateRequest{
		{Name: "b", CreateOptions: network.CreateOptions{Driver: "bridge"}},
		{Name: "m", CreateOptions: network.CreateOptions{Driver: "macvlan"}},
		{Name: "v6", CreateOptions: network.CreateOptions{Driver: "overlay", EnableIPv6: new(bool)}},
	} {
		if bad.EnableIPv6 != nil {
			*bad.EnableIPv6 = true
		}
		if _, err := NetworkSpecFrom(bad); !errdefs.Is(err, errdefs.KindUnimplemented) {
			t.Errorf("%s: %v, want unimplemented", bad.Name, err)
		}
	}
}

func TestNetworkEndpoints(t *testing.T) {
	n := &api.Network{Id: "net1", Spec: &api.NetworkSpec{Name: "mynet"}}
	nodes := []*api.Node{
		{Id: "self", Description: &api.NodeDescription{Hostname: "swarm-manager"}, Status: &api.NodeStatus{Addr: "192.168.56.10"},
			LbAttachments: []*api.NetworkAttachment{{NetworkId: "net1", Addresses: []string{"10.0.1.37/24"}}}},
		{Id: "w1", Description: &api.NodeDescription{Hostname: "swarm-worker1"}, Status: &api.NodeStatus{Addr: "192.168.56.11"},
			LbAttachments: []*api.NetworkAttachment{{NetworkId: "net1", Addresses: []string{"10.0.1.38/24"}}}},
	}
	tasks := []*api.Task{{Id: "t1", ServiceName: "client", Slot: 1, NodeId: "self",
		Status:   &api.TaskStatus{State: api.TaskState_TASK_STATE_RUNNING, Container: &api.ContainerStatus{ContainerId: "c1"}},
		Networks: []*api.NetworkAttachment{{NetworkId: "net1", Addresses: []string{"10.0.1.40/24"}}}}}
	out := Network(n)
	NetworkEndpoints(&out, n, "self", nodes, tasks)
	lb := out.Containers["lb-mynet"]
	if lb.Name != "mynet-endpoint" || lb.IPv4Address != "10.0.1.37/24" || lb.MacAddress != "02:42:0a:00:01:25" {
		t.Fatalf("lb endpoint %+v", lb)
	}
	if c := out.Containers["c1"]; c.Name != "client.1.t1" || c.IPv4Address != "10.0.1.40/24" {
		t.Fatalf("task endpoint %+v", c)
	}
	if len(out.Peers) != 2 || out.Peers[1].Name != "swarm-worker1" || out.Peers[1].IP != "192.168.56.11" {
		t.Fatalf("peers %+v", out.Peers)
	}
}

func TestClusterSpec(t *testing.T) {
	c := &api.Cluster{Id: "c", Meta: &api.Meta{Version: 4}, Spec: &api.ClusterSpec{Name: "default", TaskHistoryLimit: 5,
		HeartbeatPeriod: durationpb.New(5 * time.Second), CertExpiry: durationpb.New(90 * 24 * time.Hour)},
		JoinTokens: &api.JoinTokens{Worker: "SWMTKN-1-w", Manager: "SWMTKN-1-m"}}
	shown := Swarm(c)
	back, err := ClusterSpecFrom(shown.Spec, c.Spec)
	if err != nil || !proto.Equal(back, c.Spec) {
		t.Fatalf("cluster spec round trip: %v %v", back, err)
	}
	shown.Spec.CAConfig.NodeCertExpiry = time.Minute
	if _, err := ClusterSpecFrom(shown.Spec, c.Spec); !errdefs.Is(err, errdefs.KindInvalidArgument) {
		t.Fatalf("a 1m cert expiry: %v", err)
	}
	shown.Spec.CAConfig.NodeCertExpiry = 0
	if r := shown.Spec.Raft; r.SnapshotInterval != 2048 || r.LogEntriesForSlowFollowers != 1024 || r.KeepOldSnapshots == nil || *r.KeepOldSnapshots != 1 {
		t.Errorf("raft settings shown: %+v", r)
	}
	shown.Spec.Raft.SnapshotInterval = 5000 // docker swarm update --snapshot-interval 5000
	if _, err := ClusterSpecFrom(shown.Spec, c.Spec); !errdefs.Is(err, errdefs.KindUnimplemented) || !strings.Contains(err.Error(), "Raft.SnapshotInterval") {
		t.Fatalf("a new snapshot interval: %v", err)
	}
	shown.Spec.Raft.SnapshotInterval = 0
	shown.Spec.CAConfig.ExternalCAs = []*swarm.ExternalCA{{URL: "https://ca"}}
	if _, err := ClusterSpecFrom(shown.Spec, c.Spec); !errdefs.Is(err, errdefs.KindUnimplemented) {
		t.Fatalf("external CA: %v", err)
	}
}

func mountOf(target string) mount.Mount {
	return mount.Mount{Type: mount.TypeBind, Source: "/srv", Target: target}
}

func TestUpdateStatus(t *testing.T) {
	if UpdateStatus(nil) != nil || UpdateStatus(&api.UpdateStatus{}) != nil {
		t.Fatal("no update: no status")
	}
	got := UpdateStatus(&api.UpdateStatus{State: api.UpdateState_UPDATE_STATE_ROLLBACK_PAUSED, Message: "update paused: task failed"})
	if got.State != swarm.UpdateStateRollbackPaused || got.Message != "update paused: task failed" {
		t.Fatalf("got %+v", got)
	}
	svc := Service(&api.Service{UpdateStatus: &api.UpdateStatus{State: api.UpdateState_UPDATE_STATE_COMPLETED}}, nil)
	if svc.UpdateStatus == nil || svc.UpdateStatus.State != swarm.UpdateStateCompleted {
		t.Fatalf("service shows %+v", svc.UpdateStatus)
	}
}
