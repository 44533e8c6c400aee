package controlapi

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/eventually"
	"github.com/minsw/minsw/manager/allocator"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

type fakeRaft struct{ leader string }

func (f fakeRaft) LeaderID() string         { return f.leader }
func (f fakeRaft) Reachable(id string) bool { return true }

func newServer(t *testing.T) (*Server, *store.Store) {
	st := store.New(nil, nil)
	a := runAllocator(t, st)
	s := New(Config{Store: st, Allocator: func() *allocator.Allocator { return a }, Raft: fakeRaft{leader: "mgr"}})
	ctx := context.Background()
	if err := st.Update(ctx, func(tx *store.Tx) error {
		if err := tx.Create(&api.Cluster{Id: "cluster", Meta: &api.Meta{}, Spec: &api.ClusterSpec{}, JoinTokens: &api.JoinTokens{}}); err != nil {
			return err
		}
		for _, n := range []struct {
			id   string
			role api.NodeRole
		}{{"mgr", api.NodeRole_NODE_ROLE_MANAGER}, {"wrk", api.NodeRole_NODE_ROLE_WORKER}} {
			if err := tx.Create(&api.Node{Id: n.id, Meta: &api.Meta{}, Role: n.role, Spec: &api.NodeSpec{DesiredRole: n.role},
				Description: &api.NodeDescription{Hostname: "host-" + n.id}, Status: &api.NodeStatus{State: api.NodeState_NODE_STATE_READY}}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"ingress", "mynet"} {
		if _, err := s.CreateNetwork(ctx, &api.CreateNetworkRequest{Spec: &api.NetworkSpec{Name: n, Driver: "overlay", Ingress: n == "ingress"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateService(ctx, &api.CreateServiceRequest{Spec: webSpec("web")}); err != nil {
		t.Fatal(err)
	}
	// The allocator loop's last write: each node's ingress endpoint. Tests
	// that compare the store before and after a refused call start after it.
	eventually.True(t, "every node's ingress endpoint", func() bool {
		ok := true
		st.View(func(tx store.ReadTx) {
			for _, n := range tx.Nodes() {
				ok = ok && len(n.GetLbAttachments()) > 0
			}
		})
		return ok
	})
	return s, st
}

func webSpec(name string) *api.ServiceSpec {
	return &api.ServiceSpec{Name: name,
		Mode: &api.ServiceSpec_Replicated{Replicated: &api.ReplicatedService{Replicas: 2}},
		Task: &api.TaskSpec{Container: &api.ContainerSpec{Image: "containous/whoami"},
			Networks: []*api.NetworkAttachmentConfig{{Target: "mynet"}}}}
}

func TestSeedServiceGetsVIPOnMynet(t *testing.T) {
	s, _ := newServer(t)
	r, err := s.GetService(context.Background(), &api.GetServiceRequest{Ref: "web"})
	if err != nil {
		t.Fatal(err)
	}
	v := r.Service.Endpoint.VirtualIps
	if len(v) != 1 || !strings.HasPrefix(v[0].Addr, "10.0.1.") || v[0].Fwmark < 0x100 {
		t.Fatalf("VIPs %v", v)
	}
	n, _ := s.GetNetwork(context.Background(), &api.GetNetworkRequest{Ref: "ingress"})
	if n.Network.Subnet != "10.0.0.0/24" {
		t.Fatalf("ingress subnet %s", n.Network.Subnet)
	}
}

func TestBadInputIsRefusedAndLeavesStoreUntouched(t *testing.T) {
	mutate := func(f func(*api.ServiceSpec)) *api.ServiceSpec { s := webSpec("other"); f(s); return s }
	cases := []struct {
		name string
		call func(s *Server) error
		code codes.Code
		msg  string
	}{
		{"invalid service name", func(s *Server) error {
			_, err := s.CreateService(context.Background(), &api.CreateServiceRequest{Spec: mutate(func(sp *api.ServiceSpec) { sp.Name = "-bad" })})
			return err
		}, codes.InvalidArgument, "invalid service name"},
		{"name longer than 63", func(s *Server) error {
			_, err := s.CreateService(context.Background(), &api.CreateServiceRequest{Spec: mutate(func(sp *api.ServiceSpec) { sp.Name = strings.Repeat("a", 64) })})
			return err
		}, codes.InvalidArgument, "longer than 63"},
		{"name already taken", func(s *Server) error {
			_, err := s.CreateService(context.Background(), &api.CreateServiceRequest{Spec: webSpec("web")})
			return err
		}, codes.AlreadyExists, "already exists"},
		{"absurd replicas", func(s *Server) error {
			_, err := s.CreateService(context.Background(), &api.CreateServiceRequest{Spec: mutate(func(sp *api.ServiceSpec) {
				sp.Mode = &api.ServiceSpec_Replicated{Replicated: &api.ReplicatedService{Replicas: 1 << 40}}
			})})
			return err
		}, codes.InvalidArgument, "invalid replicas"},
		{"unknown network", func(s *Server) error {
			_, err := s.CreateService(context.Background(), &api.CreateServiceRequest{Spec: mutate(func(sp *api.ServiceSpec) {
				sp.Task.Networks = []*api.NetworkAttachmentConfig{{Target: "nonet"}}
			})})
			return err
		}, codes.NotFound, "network nonet not found"},
		{"ingress attached explicitly", func(s *Server) error {
			_, err := s.CreateService(context.Background(), &api.CreateServiceRequest{Spec: mutate(func(sp *api.ServiceSpec) {
				sp.Task.Networks = []*api.NetworkAttachmentConfig{{Target: "ingress"}}
			})})
			return err
		}, codes.InvalidArgument, "ingress"},
		{"invalid image reference", func(s *Server) error {
			_, err := s.CreateService(context.Background(), &api.CreateServiceRequest{Spec: mutate(func(sp *api.ServiceSpec) { sp.Task.Container.Image = "UPPER CASE::x" })})
			return err
		}, codes.InvalidArgument, "invalid image reference"},
		{"encrypted=false (Docker would encrypt)", func(s *Server) error {
			_, err := s.CreateNetwork(context.Background(), &api.CreateNetworkRequest{Spec: &api.NetworkSpec{Name: "sec", Driver: "overlay", DriverOpts: map[string]string{"encrypted": "false"}}})
			return err
		}, codes.InvalidArgument, `invalid value "false" for option encrypted`},
		{"encrypted overlay on a manager that cannot carry it", func(s *Server) error {
			_, err := s.CreateNetwork(context.Background(), &api.CreateNetworkRequest{Spec: &api.NetworkSpec{Name: "sec", Driver: "overlay", DriverOpts: map[string]string{"encrypted": ""}}})
			return err
		}, codes.FailedPrecondition, "overlay network sec is encrypted"},
		{"bad constraint", func(s *Server) error {
			_, err := s.CreateService(context.Background(), &api.CreateServiceRequest{Spec: mutate(func(sp *api.ServiceSpec) {
				sp.Task.Placement = &api.Placement{Constraints: []string{"node.hostname=x"}}
			})})
			return err
		}, codes.InvalidArgument, "constraint"},
		{"bad env", func(s *Server) error {
			_, err := s.CreateService(context.Background(), &api.CreateServiceRequest{Spec: mutate(func(sp *api.ServiceSpec) { sp.Task.Container.Env = []string{"=x"} })})
			return err
		}, codes.InvalidArgument, "environment"},
		{"unknown service", func(s *Server) error {
			_, err := s.UpdateService(context.Background(), &api.UpdateServiceRequest{Ref: "nosuch", Version: 1, Spec: webSpec("nosuch")})
			return err
		}, codes.NotFound, "service nosuch not found"},
		{"rename refused", func(s *Server) error {
			_, err := s.UpdateService(context.Background(), &api.UpdateServiceRequest{Ref: "web", Version: version(s, "web"), Spec: webSpec("web2")})
			return err
		}, codes.InvalidArgument, "renaming"},
		{"overlapping subnet", func(s *Server) error {
			_, err := s.CreateNetwork(context.Background(), &api.CreateNetworkRequest{Spec: &api.NetworkSpec{Name: "n2", Subnet: "10.0.1.0/24"}})
			return err
		}, codes.FailedPrecondition, "overlaps with network mynet"},
		{"malformed subnet", func(s *Server) error {
			_, err := s.CreateNetwork(context.Background(), &api.CreateNetworkRequest{Spec: &api.NetworkSpec{Name: "n2", Subnet: "10.0.1.0/33"}})
			return err
		}, codes.InvalidArgument, "invalid subnet"},
		{"network name taken", func(s *Server) error {
			_, err := s.CreateNetwork(context.Background(), &api.CreateNetworkRequest{Spec: &api.NetworkSpec{Name: "mynet"}})
			return err
		}, codes.AlreadyExists, "already exists"},
		{"invalid network name", func(s *Server) error {
			_, err := s.CreateNetwork(context.Background(), &api.CreateNetworkRequest{Spec: &api.NetworkSpec{Name: "my net"}})
			return err
		}, codes.InvalidArgument, "invalid network name"},
		{"unsupported driver", func(s *Server) error {
			_, err := s.CreateNetwork(context.Background(), &api.CreateNetworkRequest{Spec: &api.NetworkSpec{Name: "n3", Driver: "bridge"}})
			return err
		}, codes.InvalidArgument, "not supported"},
		{"network in use", func(s *Server) error {
			_, err := s.RemoveNetwork(context.Background(), &api.RemoveNetworkRequest{Ref: "mynet"})
			return err
		}, codes.FailedPrecondition, "in use by service web"},
		{"unknown node", func(s *Server) error {
			_, err := s.UpdateNode(context.Background(), &api.UpdateNodeRequest{Ref: "ghost", Version: 1, Spec: &api.NodeSpec{}})
			return err
		}, codes.NotFound, "node ghost not found"},
		{"demote the last manager", func(s *Server) error {
			_, err := s.UpdateNode(context.Background(), &api.UpdateNodeRequest{Ref: "mgr", Version: nodeVersion(s, "mgr"), Spec: &api.NodeSpec{DesiredRole: api.NodeRole_NODE_ROLE_WORKER}})
			return err
		}, codes.FailedPrecondition, "last manager"},
		{"remove a live node", func(s *Server) error {
			_, err := s.RemoveNode(context.Background(), &api.RemoveNodeRequest{Ref: "wrk"})
			return err
		}, codes.FailedPrecondition, "not down"},
		{"remove a manager", func(s *Server) error {
			_, err := s.RemoveNode(context.Background(), &api.RemoveNodeRequest{Ref: "mgr", Force: true})
			return err
		}, codes.FailedPrecondition, "must be demoted"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, st := newServer(t)
			before := st.Save()
			err := c.call(s)
			if edgeCode(err) != c.code || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("got %v, want %v containing %q", err, c.code, c.msg)
			}
			if !proto.Equal(before, st.Save()) {
				t.Fatal("a refused request changed the store")
			}
		})
	}
}

func TestAmbiguousPrefixIsRefused(t *testing.T) {
	st := store.New(nil, nil)
	ids := []string{"abc1", "abc2"}
	a := runAllocator(t, st)
	s := New(Config{Store: st, Allocator: func() *allocator.Allocator { return a }, NewID: func() string { id := ids[0]; ids = ids[1:]; return id }})
	ctx := context.Background()
	for _, n := range []string{"a", "b"} {
		if _, err := s.CreateService(ctx, &api.CreateServiceRequest{Spec: &api.ServiceSpec{Name: n,
			Mode: &api.ServiceSpec_Replicated{Replicated: &api.ReplicatedService{Replicas: 1}},
			Task: &api.TaskSpec{Container: &api.ContainerSpec{Image: "busybox"}}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.GetService(ctx, &api.GetServiceRequest{Ref: "abc"}); edgeCode(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "ambiguous") {
		t.Fatalf("ambiguous prefix: %v", err)
	}
	if r, err := s.GetService(ctx, &api.GetServiceRequest{Ref: "abc2"}); err != nil || r.Service.Spec.Name != "b" {
		t.Fatalf("unique prefix: %v", err)
	}
}

func TestUpdateBumpsSpecVersionOnlyForRealChanges(t *testing.T) {
	s, _ := newServer(t)
	ctx := context.Background()
	cur, _ := s.GetService(ctx, &api.GetServiceRequest{Ref: "web"})
	scaled := proto.Clone(cur.Service.Spec).(*api.ServiceSpec)
	scaled.Mode = &api.ServiceSpec_Replicated{Replicated: &api.ReplicatedService{Replicas: 5}}
	r, err := s.UpdateService(ctx, &api.UpdateServiceRequest{Ref: "web", Version: cur.Service.Meta.Version, Spec: scaled})
	if err != nil || r.Service.SpecVersion != 1 {
		t.Fatalf("scale bumped spec version: %v %v", r, err)
	}
	img := proto.Clone(scaled).(*api.ServiceSpec)
	img.Task.Container.Image = "containous/whoami:v2"
	r, err = s.UpdateService(ctx, &api.UpdateServiceRequest{Ref: "web", Version: r.Service.Meta.Version, Spec: img})
	if err != nil || r.Service.SpecVersion != 2 || r.Service.PreviousSpec.Task.Container.Image != "containous/whoami:latest" {
		t.Fatalf("image change: %v %v", r, err)
	}
	// Stale version refused.
	if _, err := s.UpdateService(ctx, &api.UpdateServiceRequest{Ref: "web", Version: cur.Service.Meta.Version, Spec: img}); edgeCode(err) != codes.Aborted {
		t.Fatalf("stale update: %v", err)
	}
}

// racingProposer applies proposals as a single raft node would, but before
// the first one it lets another writer (a task status report) change a task,
// so the first proposal loses its version check.
type racingProposer struct {
	st    *store.Store
	idx   uint64
	raced bool
	race  func()
}

func (p *racingProposer) Propose(_ context.Context, cmd *api.RaftCommand) error {
	if !p.raced {
		p.raced = true
		p.race()
	}
	p.idx++
	return p.st.Apply(p.idx, proto.Clone(cmd).(*api.RaftCommand))
}

func TestRemoveServiceRetriesAfterLosingARace(t *testing.T) {
	st := store.New(nil, nil)
	ctx := context.Background()
	task := &api.Task{Id: "t1", Meta: &api.Meta{}, ServiceId: "s1", Slot: 1, DesiredState: api.TaskState_TASK_STATE_RUNNING,
		Status: &api.TaskStatus{State: api.TaskState_TASK_STATE_RUNNING}}
	_ = st.Apply(1, &api.RaftCommand{Actions: []*api.StoreAction{
		{Kind: api.StoreActionKind_STORE_ACTION_CREATE, Target: &api.StoreAction_Service{Service: &api.Service{Id: "s1", Meta: &api.Meta{}, Spec: webSpec("web")}}},
		{Kind: api.StoreActionKind_STORE_ACTION_CREATE, Target: &api.StoreAction_Task{Task: task}},
	}})
	p := &racingProposer{st: st, idx: 1}
	p.race = func() {
		var cur *api.Task
		st.View(func(tx store.ReadTx) { cur = proto.Clone(tx.Task("t1")).(*api.Task) })
		cur.Status.Message = "status report"
		p.idx++
		if err := st.Apply(p.idx, &api.RaftCommand{Actions: []*api.StoreAction{{Kind: api.StoreActionKind_STORE_ACTION_UPDATE, Target: &api.StoreAction_Task{Task: cur}}}}); err != nil {
			t.Fatal(err)
		}
	}
	st.SetProposer(p)
	a := runAllocator(t, st)
	s := New(Config{Store: st, Allocator: func() *allocator.Allocator { return a }})
	if _, err := s.RemoveService(ctx, &api.RemoveServiceRequest{Ref: "web"}); err != nil {
		t.Fatalf("service rm lost to a status report: %v", err)
	}
	st.View(func(tx store.ReadTx) {
		if tx.Service("s1") != nil || tx.Task("t1").DesiredState != api.TaskState_TASK_STATE_REMOVE {
			t.Fatal("the retried removal did not land")
		}
	})
}

func publishing(name string, ports ...*api.PortConfig) *api.ServiceSpec {
	s := webSpec(name)
	s.Endpoint = &api.EndpointSpec{Ports: ports}
	return s
}

func TestPublishedPorts(t *testing.T) {
	s, st := newServer(t)
	ctx := context.Background()
	r, err := s.CreateService(ctx, &api.CreateServiceRequest{Spec: publishing("front", &api.PortConfig{PublishedPort: 8080, TargetPort: 80})})
	if err != nil {
		t.Fatal(err)
	}
	if p := r.Service.Endpoint.Ports; len(p) != 1 || p[0].PublishedPort != 8080 {
		t.Fatalf("ports %v", p)
	}
	// Publishing through the mesh gives a VIP on ingress too.
	var ingressID string
	st.View(func(tx store.ReadTx) { ingressID = tx.NetworkByName("ingress").Id })
	found := false
	for _, v := range r.Service.Endpoint.VirtualIps {
		if v.NetworkId == ingressID && strings.HasPrefix(v.Addr, "10.0.0.") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no ingress VIP: %v", r.Service.Endpoint.VirtualIps)
	}
	// Only a target: a port from 30000-32767.
	r2, err := s.CreateService(ctx, &api.CreateServiceRequest{Spec: publishing("dyn", &api.PortConfig{TargetPort: 80})})
	if err != nil || r2.Service.Endpoint.Ports[0].PublishedPort != 30000 {
		t.Fatalf("dynamic port: %v %v", r2, err)
	}
	// A clash names the holder and changes nothing.
	before := st.Save()
	_, err = s.CreateService(ctx, &api.CreateServiceRequest{Spec: publishing("clash", &api.PortConfig{PublishedPort: 8080, TargetPort: 81})})
	if edgeCode(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "already in use by service 'front'") {
		t.Fatalf("clash: %v", err)
	}
	if !proto.Equal(before, st.Save()) {
		t.Fatal("a refused port changed the store")
	}
	// UDP on the same number is another port.
	if _, err := s.CreateService(ctx, &api.CreateServiceRequest{Spec: publishing("dns", &api.PortConfig{PublishedPort: 8080, TargetPort: 53, Protocol: api.PortProtocol_PORT_PROTOCOL_UDP})}); err != nil {
		t.Fatal(err)
	}
	// An update keeps a dynamic port it already holds.
	cur, _ := s.GetService(ctx, &api.GetServiceRequest{Ref: "dyn"})
	spec := proto.Clone(cur.Service.Spec).(*api.ServiceSpec)
	spec.Task.Container.Env = []string{"X=1"}
	up, err := s.UpdateService(ctx, &api.UpdateServiceRequest{Ref: "dyn", Version: cur.Service.Meta.Version, Spec: spec})
	if err != nil || up.Service.Endpoint.Ports[0].PublishedPort != 30000 {
		t.Fatalf("update moved the dynamic port: %v %v", up, err)
	}
}

func version(s *Server, ref string) uint64 {
	r, err := s.GetService(context.Background(), &api.GetServiceRequest{Ref: ref})
	if err != nil {
		return 0
	}
	return r.Service.Meta.Version
}

func nodeVersion(s *Server, ref string) uint64 {
	r, err := s.GetNode(context.Background(), &api.GetNodeRequest{Ref: ref})
	if err != nil {
		return 0
	}
	return r.Node.Meta.Version
}

// runAllocator starts st's allocator loop, as the leader runs it, until the
// test ends.
func runAllocator(t *testing.T, st *store.Store) *allocator.Allocator {
	t.Helper()
	a := allocator.New(st, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return a
}
