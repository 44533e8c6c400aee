package controlapi

import (
	"context"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/minsw/minsw/manager/allocator"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// raftLike applies proposed commands as raft does: at the next log index,
// after the proposing transaction is over, so the object the handler built
// still carries the version it read.
type raftLike struct {
	mu  sync.Mutex
	st  *store.Store
	idx uint64
}

func (r *raftLike) Propose(_ context.Context, cmd *api.RaftCommand) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.idx++
	b, err := proto.Marshal(cmd) // the FSM decodes its own copy
	if err != nil {
		return err
	}
	var c api.RaftCommand
	if err := proto.Unmarshal(b, &c); err != nil {
		return err
	}
	return r.st.Apply(r.idx, &c)
}

// newReplicatedServer is newServer over a store whose writes go through a
// proposer, as on a real manager.
func newReplicatedServer(t *testing.T) *Server {
	t.Helper()
	p := &raftLike{idx: 100}
	st := store.New(p, nil)
	p.st = st
	a := runAllocator(t, st)
	s := New(Config{Store: st, Allocator: func() *allocator.Allocator { return a }, Raft: fakeRaft{leader: "mgr1"}})
	ctx := context.Background()
	if err := st.Update(ctx, func(tx *store.Tx) error {
		if err := tx.Create(&api.Cluster{Id: "cluster", Meta: &api.Meta{}, Spec: &api.ClusterSpec{Name: "default"}, JoinTokens: &api.JoinTokens{}}); err != nil {
			return err
		}
		for _, id := range []string{"mgr1", "mgr2", "mgr3"} {
			if err := tx.Create(&api.Node{Id: id, Meta: &api.Meta{}, Role: api.NodeRole_NODE_ROLE_MANAGER,
				Spec:        &api.NodeSpec{DesiredRole: api.NodeRole_NODE_ROLE_MANAGER, Labels: map[string]string{"zone": "a"}},
				Description: &api.NodeDescription{Hostname: "host-" + id}, Status: &api.NodeStatus{State: api.NodeState_NODE_STATE_READY}}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateNetwork(ctx, &api.CreateNetworkRequest{Spec: &api.NetworkSpec{Name: "mynet", Driver: "overlay"}}); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPartialNodeUpdateDoesNotDemoteAManager(t *testing.T) {
	s := newReplicatedServer(t)
	ctx := context.Background()
	get := func(ref string) *api.Node {
		r, err := s.GetNode(ctx, &api.GetNodeRequest{Ref: ref})
		if err != nil {
			t.Fatal(err)
		}
		return r.Node
	}
	drain := &api.NodeSpec{Availability: api.NodeAvailability_NODE_AVAILABILITY_DRAIN}

	// The request of the report: a bare spec, no version. Refused, and
	// neither manager is demoted.
	for _, id := range []string{"mgr1", "mgr2"} {
		_, err := s.UpdateNode(ctx, &api.UpdateNodeRequest{Ref: id, Spec: drain})
		if edgeCode(err) != codes.Aborted || !strings.Contains(err.Error(), "update out of sequence") {
			t.Fatalf("versionless update of %s: %v, want Aborted update out of sequence", id, err)
		}
		if n := get(id); n.Spec.DesiredRole != api.NodeRole_NODE_ROLE_MANAGER || n.Spec.Availability != api.NodeAvailability_NODE_AVAILABILITY_ACTIVE {
			t.Fatalf("refused update changed %s: %v", id, n.Spec)
		}
	}

	// With the version and a mask naming availability, only availability
	// changes: the role and the labels stay.
	n := get("mgr1")
	r, err := s.UpdateNode(ctx, &api.UpdateNodeRequest{Ref: "mgr1", Version: n.Meta.Version, Spec: drain,
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"availability"}}})
	if err != nil {
		t.Fatal(err)
	}
	got := get("mgr1")
	if got.Spec.DesiredRole != api.NodeRole_NODE_ROLE_MANAGER || got.Spec.Availability != api.NodeAvailability_NODE_AVAILABILITY_DRAIN || got.Spec.Labels["zone"] != "a" {
		t.Fatalf("availability-only update gave spec %v", got.Spec)
	}
	if r.Node.Meta.Version != got.Meta.Version || r.Node.Meta.Version <= n.Meta.Version {
		t.Fatalf("UpdateNode answered version %d; stored %d, was %d", r.Node.Meta.Version, got.Meta.Version, n.Meta.Version)
	}

	// The version read before that update is stale now.
	_, err = s.UpdateNode(ctx, &api.UpdateNodeRequest{Ref: "mgr1", Version: n.Meta.Version, Spec: &api.NodeSpec{},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"availability"}}})
	if edgeCode(err) != codes.Aborted || !strings.Contains(err.Error(), "update out of sequence") {
		t.Fatalf("stale version: %v", err)
	}
	// An unknown mask path is named.
	_, err = s.UpdateNode(ctx, &api.UpdateNodeRequest{Ref: "mgr1", Version: got.Meta.Version, Spec: &api.NodeSpec{},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"role"}}})
	if edgeCode(err) != codes.InvalidArgument || !strings.Contains(err.Error(), `"role"`) {
		t.Fatalf("unknown mask path: %v", err)
	}
}

func TestCreateAndUpdateReturnTheStoredVersion(t *testing.T) {
	s := newReplicatedServer(t)
	ctx := context.Background()
	c, err := s.CreateService(ctx, &api.CreateServiceRequest{Spec: webSpec("web")})
	if err != nil {
		t.Fatal(err)
	}
	g, _ := s.GetService(ctx, &api.GetServiceRequest{Ref: "web"})
	if c.Service.Meta.Version == 0 || c.Service.Meta.Version != g.Service.Meta.Version {
		t.Fatalf("CreateService answered version %d, stored %d", c.Service.Meta.Version, g.Service.Meta.Version)
	}
	// Three updates in a row, each with the version the previous answered.
	v := c.Service.Meta.Version
	for i := 0; i < 3; i++ {
		spec := proto.Clone(c.Service.Spec).(*api.ServiceSpec)
		spec.Labels = map[string]string{"round": strings.Repeat("x", i+1)}
		u, err := s.UpdateService(ctx, &api.UpdateServiceRequest{Ref: "web", Version: v, Spec: spec})
		if err != nil {
			t.Fatalf("update %d with the version the previous call answered (%d): %v", i, v, err)
		}
		if u.Service.Meta.Version <= v {
			t.Fatalf("update %d answered version %d, not newer than %d", i, u.Service.Meta.Version, v)
		}
		v = u.Service.Meta.Version
	}
	n, err := s.CreateNetwork(ctx, &api.CreateNetworkRequest{Spec: &api.NetworkSpec{Name: "other"}})
	if err != nil || n.Network.Meta.Version == 0 {
		t.Fatalf("CreateNetwork answered %v %v", n, err)
	}
	cl, _ := s.GetCluster(ctx, &api.GetClusterRequest{})
	u, err := s.UpdateCluster(ctx, &api.UpdateClusterRequest{Version: cl.Cluster.Meta.Version, Spec: cl.Cluster.Spec, RotateWorkerToken: true})
	if err != nil || u.Cluster.Meta.Version <= cl.Cluster.Meta.Version {
		t.Fatalf("UpdateCluster answered %v %v", u, err)
	}
	if _, err := s.UpdateCluster(ctx, &api.UpdateClusterRequest{Spec: cl.Cluster.Spec}); edgeCode(err) != codes.Aborted {
		t.Fatalf("versionless cluster update: %v", err)
	}
}

func TestOutOfRangeValuesAreRefused(t *testing.T) {
	svc := func(f func(*api.ServiceSpec)) func(s *Server) error {
		return func(s *Server) error {
			sp := webSpec("other")
			f(sp)
			_, err := s.CreateService(context.Background(), &api.CreateServiceRequest{Spec: sp})
			return err
		}
	}
	huge := strings.Repeat("y", 200<<10)
	cases := []struct {
		name string
		call func(s *Server) error
		msg  string
	}{
		{"restart condition 42", svc(func(sp *api.ServiceSpec) { sp.Task.Restart = &api.RestartPolicy{Condition: 42} }),
			"invalid restart condition (spec.task.restart.condition) 42: want one of any, on-failure, none"},
		{"protocol 7", svc(func(sp *api.ServiceSpec) {
			sp.Endpoint = &api.EndpointSpec{Ports: []*api.PortConfig{{Protocol: 7, TargetPort: 80, PublishedPort: 8080}}}
		}), "invalid port protocol (spec.endpoint.ports[0].protocol) 7: want one of tcp, udp"},
		{"publish mode 3", svc(func(sp *api.ServiceSpec) {
			sp.Endpoint = &api.EndpointSpec{Ports: []*api.PortConfig{{PublishMode: 3, TargetPort: 80}}}
		}), "publish mode"},
		{"1 s + 2e9 ns", svc(func(sp *api.ServiceSpec) {
			sp.Task.Restart = &api.RestartPolicy{Delay: &durationpb.Duration{Seconds: 1, Nanos: 2e9}}
		}), "invalid duration restart delay (spec.task.restart.delay) (1 s and 2000000000 ns)"},
		{"-1 s + 5e8 ns", svc(func(sp *api.ServiceSpec) {
			sp.Task.Container.StopGracePeriod = &durationpb.Duration{Seconds: -1, Nanos: 5e8}
		}), "stop grace period"},
		{"an env var over 128 KiB", svc(func(sp *api.ServiceSpec) { sp.Task.Container.Env = []string{"BIG=" + huge} }),
			"env (spec.task.container.env[0]) is longer than 128 KiB"},
		{"a 3.5 MB spec", svc(func(sp *api.ServiceSpec) {
			for i := 0; i < 35; i++ {
				sp.Task.Container.Env = append(sp.Task.Container.Env, "K="+strings.Repeat("z", 100_000))
			}
		}), "over the 1.5 MiB limit of one spec"},
		{"availability 99", func(s *Server) error {
			_, err := s.UpdateNode(context.Background(), &api.UpdateNodeRequest{Ref: "wrk", Version: nodeVersion(s, "wrk"), Spec: &api.NodeSpec{Availability: 99}})
			return err
		}, "invalid availability (spec.availability) 99: want one of active, pause, drain"},
		{"a 100 KiB name is not echoed back", svc(func(sp *api.ServiceSpec) { sp.Name = strings.Repeat("n", 100<<10) }),
			`invalid service name "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"… (100 KiB): longer than 63 characters`},
		{"a 100 KiB image is not echoed back", svc(func(sp *api.ServiceSpec) { sp.Task.Container.Image = strings.Repeat("I", 100<<10) }),
			"(100 KiB)"},
		{"desired role 5", func(s *Server) error {
			_, err := s.UpdateNode(context.Background(), &api.UpdateNodeRequest{Ref: "wrk", Version: nodeVersion(s, "wrk"), Spec: &api.NodeSpec{DesiredRole: 5}})
			return err
		}, "desired role"},
		{"update with restart condition 42", func(s *Server) error {
			sp := webSpec("web")
			sp.Task.Restart = &api.RestartPolicy{Condition: 42}
			_, err := s.UpdateService(context.Background(), &api.UpdateServiceRequest{Ref: "web", Version: version(s, "web"), Spec: sp})
			return err
		}, "restart condition"},
		{"cluster heartbeat of 1 s + 2e9 ns", func(s *Server) error {
			c, _ := s.GetCluster(context.Background(), &api.GetClusterRequest{})
			sp := proto.Clone(c.Cluster.Spec).(*api.ClusterSpec)
			sp.HeartbeatPeriod = &durationpb.Duration{Seconds: 1, Nanos: 2e9}
			_, err := s.UpdateCluster(context.Background(), &api.UpdateClusterRequest{Version: c.Cluster.Meta.Version, Spec: sp})
			return err
		}, "invalid duration heartbeat period"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, st := newServer(t)
			before := st.Save()
			err := c.call(s)
			if edgeCode(err) != codes.InvalidArgument || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("got %v, want InvalidArgument containing %q", err, c.msg)
			}
			if len(err.Error()) > 300 || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one short line (%d bytes)", len(err.Error()))
			}
			if !proto.Equal(before, st.Save()) {
				t.Fatal("a refused request changed the store")
			}
		})
	}
}
