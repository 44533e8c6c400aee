// Package clitest is what the command packages' tests share: an in-memory
// minsw daemon serving the seed tutorial's cluster on a unix socket, and
// the CLI run against it as a user runs it.
package clitest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/cmd/minsw/internal/commands"
	"github.com/minsw/minsw/cmd/minsw/internal/task"
	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/controlapi"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// Daemon is an in-memory minsw daemon for the CLI's tests: canned
// objects, refs resolved by ID, name or unique prefix, and a toy
// orchestrator that moves tasks one state forward on every ListTasks.
type Daemon struct {
	minswv1.UnimplementedControlServer
	minswv1.UnimplementedSwarmServer
	minswv1.UnimplementedContainersServer

	// Mu guards the fields below; tests take it to read or change them.
	Mu            sync.Mutex
	Self          string
	Nodes         []*minswv1.Node
	Networks      []*minswv1.Network
	Services      []*minswv1.Service
	Tasks         []*minswv1.Task
	Cluster       *minswv1.Cluster
	Containers    []*minswv1.Container
	ContainerLogs map[string]string
	// Unschedulable makes new tasks stay pending with this error.
	Unschedulable string
	nextID        int
	LastInit      *minswv1.InitRequest
	LastJoin      *minswv1.JoinRequest
	// Unsure makes that many creates commit and then answer that their
	// outcome is unknown (a leader lost mid-commit); CreateKeys records
	// the idempotency key of every create.
	Unsure     int
	CreateKeys []string
	// Unknown makes every create answer that its outcome is unknown,
	// before doing anything (the leader is out of reach).
	Unknown bool
	// Now is the instant Seed's timestamps are relative to: a test that
	// checks "47 seconds ago" runs the CLI with this as its clock
	// (FrozenAt), since a real clock may have moved on by a second.
	Now time.Time
}

// FrozenAt returns a RunWith tune that makes the CLI's clock stop at now.
func FrozenAt(now time.Time) func(*cli.CLI) {
	return func(c *cli.CLI) { c.Now = func() time.Time { return now } }
}

// Ago is a timestamp d before now.
func Ago(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(time.Now().Add(-d)) }

// Seed is the cluster of the seed tutorial: three nodes, ingress and
// mynet, the web service with two running tasks.
func Seed() *Daemon {
	d := &Daemon{Self: "m1anager0000000000000000a", ContainerLogs: map[string]string{}, Now: time.Now()}
	ago := func(age time.Duration) *timestamppb.Timestamp { return timestamppb.New(d.Now.Add(-age)) }
	node := func(id, host string, mgr *minswv1.ManagerStatus, addr string) *minswv1.Node {
		n := &minswv1.Node{
			Id:            id,
			Meta:          &minswv1.Meta{Version: 3, CreatedAt: ago(time.Hour)},
			Spec:          &minswv1.NodeSpec{},
			Description:   &minswv1.NodeDescription{Hostname: host, Os: "linux", Architecture: "x86_64", EngineVersion: "0.1.0"},
			Status:        &minswv1.NodeStatus{State: minswv1.NodeState_NODE_STATE_READY, Addr: addr},
			ManagerStatus: mgr,
		}
		if mgr != nil {
			n.Role, n.Spec.DesiredRole = minswv1.NodeRole_NODE_ROLE_MANAGER, minswv1.NodeRole_NODE_ROLE_MANAGER
		}
		return n
	}
	d.Nodes = []*minswv1.Node{
		node("w2orker000000000000000002", "swarm-worker2", nil, "192.168.56.12"),
		node(d.Self, "swarm-manager", &minswv1.ManagerStatus{Leader: true, Addr: "192.168.56.10:2377", Reachability: minswv1.Reachability_REACHABILITY_REACHABLE}, "192.168.56.10"),
		node("w1orker000000000000000001", "swarm-worker1", nil, "192.168.56.11"),
	}
	d.Networks = []*minswv1.Network{
		{Id: "lpirdge00y3jqagzhq9psqu6f", Meta: &minswv1.Meta{CreatedAt: ago(time.Hour)}, Spec: &minswv1.NetworkSpec{Name: "mynet", Driver: "overlay"}, Subnet: "10.0.1.0/24", Gateway: "10.0.1.1", Vni: 4097},
		{Id: "14fy2l7a4mcicc2kfoyxtw2nu", Meta: &minswv1.Meta{CreatedAt: ago(time.Hour)}, Spec: &minswv1.NetworkSpec{Name: "ingress", Driver: "overlay", Ingress: true}, Subnet: "10.0.0.0/24", Gateway: "10.0.0.1", Vni: 4096},
	}
	d.Nodes[1].LbAttachments = []*minswv1.NetworkAttachment{{NetworkId: "lpirdge00y3jqagzhq9psqu6f", Addresses: []string{"10.0.1.37/24"}}}
	d.Cluster = &minswv1.Cluster{Id: "c1", Meta: &minswv1.Meta{Version: 7}, Spec: &minswv1.ClusterSpec{Name: "default"},
		JoinTokens: &minswv1.JoinTokens{Worker: "SWMTKN-1-worker", Manager: "SWMTKN-1-manager"}}
	web := &minswv1.Service{
		Id:          "jozc1x1c1zpyjl9b5j5abzm0g",
		Meta:        &minswv1.Meta{Version: 10, CreatedAt: ago(time.Minute)},
		SpecVersion: 1,
		Spec: &minswv1.ServiceSpec{
			Name: "web",
			Task: &minswv1.TaskSpec{
				Container: &minswv1.ContainerSpec{Image: "containous/whoami"},
				Networks:  []*minswv1.NetworkAttachmentConfig{{Target: "lpirdge00y3jqagzhq9psqu6f"}},
			},
			Mode: &minswv1.ServiceSpec_Replicated{Replicated: &minswv1.ReplicatedService{Replicas: 2}},
		},
		Endpoint: &minswv1.Endpoint{VirtualIps: []*minswv1.VirtualIP{{NetworkId: "lpirdge00y3jqagzhq9psqu6f", Addr: "10.0.1.30/24", Fwmark: 0x106}}},
	}
	d.Services = []*minswv1.Service{web}
	running := func(id string, slot uint64, node string, age time.Duration, ip string) *minswv1.Task {
		return &minswv1.Task{
			Id: id, ServiceId: web.Id, ServiceName: "web", Slot: slot, NodeId: node, SpecVersion: 1,
			Meta:         &minswv1.Meta{CreatedAt: ago(age + time.Second)},
			Spec:         web.Spec.Task,
			DesiredState: minswv1.TaskState_TASK_STATE_RUNNING,
			Status:       &minswv1.TaskStatus{State: minswv1.TaskState_TASK_STATE_RUNNING, Timestamp: ago(age)},
			Networks:     []*minswv1.NetworkAttachment{{NetworkId: "lpirdge00y3jqagzhq9psqu6f", Addresses: []string{ip}}},
		}
	}
	d.Tasks = []*minswv1.Task{
		running("pwi87g86kbxdq8wzfs1lkbgqc", 1, "w1orker000000000000000001", 47*time.Second, "10.0.1.31/24"),
		running("xbri2akxy2e8yol8rfinx9s2d", 2, "w2orker000000000000000002", 44*time.Second, "10.0.1.32/24"),
	}
	d.Containers = []*minswv1.Container{{
		Id:        "36dce35d56e87d43d08c5b9a94678fe789659cb3b1a5c9ddccd7de4b26e8d588",
		Name:      "client.1.sg9b3dqrgru4f14k2tpxzg2ei",
		Image:     "xiaopeng163/net-box:latest",
		Command:   []string{"ping", "8.8.8.8"},
		CreatedAt: ago(19*time.Minute + 10*time.Second),
		StartedAt: ago(19*time.Minute + 5*time.Second),
		State:     "running",
	}, {
		Id:         "0b1d2f3e4a5b6c7d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f",
		Name:       "web.1.old0000000000000000000000",
		Image:      "containous/whoami:latest",
		Command:    []string{"/whoami"},
		CreatedAt:  ago(time.Hour),
		StartedAt:  ago(time.Hour),
		FinishedAt: ago(2*time.Minute + 3*time.Second),
		State:      "exited",
	}}
	d.ContainerLogs["36dce35d56e8"] = "line1\nline2\nline3\n"
	return d
}

// Serve starts the fake on a unix socket in a temp dir and returns its path.
func (d *Daemon) Serve(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "minsw.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	minswv1.RegisterControlServer(srv, d)
	minswv1.RegisterSwarmServer(srv, d)
	minswv1.RegisterContainersServer(srv, d)
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return path
}

// Run runs the CLI against sock and returns what a user sees.
func Run(t *testing.T, sock string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return RunWith(t, sock, stdin, nil, args...)
}

// RunWith is Run with the CLI's settings changed by tune first (nil: none).
func RunWith(t *testing.T, sock string, stdin string, tune func(*cli.CLI), args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	c := cli.New(strings.NewReader(stdin), &out, &errb)
	if tune != nil {
		tune(c)
	}
	code = commands.Execute(c, append([]string{"--host", "unix://" + sock}, args...))
	return out.String(), errb.String(), code
}

func (d *Daemon) newID() string {
	d.nextID++
	return fmt.Sprintf("n%024d", d.nextID)
}

// resolve finds one object by full ID, name or unique ID prefix.
func resolve[T any](kind, ref string, items []T, id, name func(T) string) (T, error) {
	var zero T
	var byPrefix []T
	for _, it := range items {
		if id(it) == ref || name(it) == ref {
			return it, nil
		}
		if strings.HasPrefix(id(it), ref) {
			byPrefix = append(byPrefix, it)
		}
	}
	switch len(byPrefix) {
	case 1:
		return byPrefix[0], nil
	case 0:
		return zero, status.Errorf(codes.NotFound, "%s %s not found", kind, ref)
	}
	return zero, status.Errorf(codes.FailedPrecondition, "%s %s is ambiguous (%d matches found)", kind, ref, len(byPrefix))
}

func (d *Daemon) node(ref string) (*minswv1.Node, error) {
	return resolve("node", ref, d.Nodes, (*minswv1.Node).GetId, func(n *minswv1.Node) string { return n.GetDescription().GetHostname() })
}

func (d *Daemon) service(ref string) (*minswv1.Service, error) {
	return resolve("service", ref, d.Services, (*minswv1.Service).GetId, func(s *minswv1.Service) string { return s.GetSpec().GetName() })
}

func (d *Daemon) network(ref string) (*minswv1.Network, error) {
	return resolve("network", ref, d.Networks, (*minswv1.Network).GetId, func(n *minswv1.Network) string { return n.GetSpec().GetName() })
}

func (d *Daemon) GetNode(_ context.Context, r *minswv1.GetNodeRequest) (*minswv1.GetNodeResponse, error) {
	d.Mu.Lock()
	defer d.Mu.Unlock()
	n, err := d.node(r.Ref)
	if err != nil {
		return nil, err
	}
	return &minswv1.GetNodeResponse{Node: proto.Clone(n).(*minswv1.Node)}, nil
}

func (d *Daemon) ListNodes(context.Context, *minswv1.ListNodesRequest) (*minswv1.ListNodesResponse, error) {
	d.Mu.Lock()
	defer d.Mu.Unlock()
	return &minswv1.ListNodesResponse{Nodes: d.Nodes}, nil
}

func (d *Daemon) UpdateNode(_ context.Context, r *minswv1.UpdateNodeRequest) (*minswv1.UpdateNodeResponse, error) {
	d.Mu.Lock()
	defer d.Mu.Unlock()
	n, err := d.node(r.Ref)
	if err != nil {
		return nil, err
	}
	if r.Version != n.Meta.Version {
		return nil, status.Error(codes.FailedPrecondition, "update out of sequence")
	}
	n.Spec = r.Spec
	n.Meta.Version++
	return &minswv1.UpdateNodeResponse{Node: n}, nil
}

func (d *Daemon) RemoveNode(_ context.Context, r *minswv1.RemoveNodeRequest) (*minswv1.RemoveNodeResponse, error) {
	d.Mu.Lock()
	defer d.Mu.Unlock()
	n, err := d.node(r.Ref)
	if err != nil {
		return nil, err
	}
	if n.Status.State != minswv1.NodeState_NODE_STATE_DOWN && !r.Force {
		return nil, status.Errorf(codes.FailedPrecondition, "node %s is not down and can't be removed", r.Ref)
	}
	return &minswv1.RemoveNodeResponse{}, nil
}

func (d *Daemon) GetNetwork(_ context.Context, r *minswv1.GetNetworkRequest) (*minswv1.GetNetworkResponse, error) {
	d.Mu.Lock()
	defer d.Mu.Unlock()
	n, err := d.network(r.Ref)
	if err != nil {
		return nil, err
	}
	return &minswv1.GetNetworkResponse{Network: n}, nil
}

func (d *Daemon) ListNetworks(context.Context, *minswv1.ListNetworksRequest) (*minswv1.ListNetworksResponse, error) {
	d.Mu.Lock()
	defer d.Mu.Unlock()
	return &minswv1.ListNetworksResponse{Networks: d.Networks}, nil
}

func (d *Daemon) CreateNetwork(_ context.Context, r *minswv1.CreateNetworkRequest) (*minswv1.CreateNetworkResponse, error) {
	d.Mu.Lock()
	defer d.Mu.Unlock()
	if _, err := d.network(r.Spec.Name); err == nil {
		return nil, status.Errorf(codes.AlreadyExists, "network with name %s already exists", r.Spec.Name)
	}
	n := &minswv1.Network{Id: "netw0rk" + d.newID()[7:], Spec: r.Spec, Subnet: r.Spec.Subnet, Vni: 4098}
	d.Networks = append(d.Networks, n)
	return &minswv1.CreateNetworkResponse{Network: n}, nil
}

func (d *Daemon) RemoveNetwork(_ context.Context, r *minswv1.RemoveNetworkRequest) (*minswv1.RemoveNetworkResponse, error) {
	d.Mu.Lock()
	defer d.Mu.Unlock()
	if _, err := d.network(r.Ref); err != nil {
		return nil, err
	}
	return &minswv1.RemoveNetworkResponse{}, nil
}

func (d *Daemon) GetService(_ context.Context, r *minswv1.GetServiceRequest) (*minswv1.GetServiceResponse, error) {
	d.Mu.Lock()
	defer d.Mu.Unlock()
	s, err := d.service(r.Ref)
	if err != nil {
		return nil, err
	}
	return &minswv1.GetServiceResponse{Service: proto.Clone(s).(*minswv1.Service)}, nil
}

func (d *Daemon) ListServices(_ context.Context, r *minswv1.ListServicesRequest) (*minswv1.ListServicesResponse, error) {
	d.Mu.Lock()
	defer d.Mu.Unlock()
	// The manager's own filter code, so --filter is tested end to end.
	f, err := controlapi.ParseFilters(r.GetFilters(), []string{"id", "name", "label", "mode"})
	if err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	var out []*minswv1.Service
	for _, s := range d.Services {
		if controlapi.MatchService(s, f) {
			out = append(out, s)
		}
	}
	return &minswv1.ListServicesResponse{Services: out}, nil
}

func (d *Daemon) CreateService(_ context.Context, r *minswv1.CreateServiceRequest) (*minswv1.CreateServiceResponse, error) {
	d.Mu.Lock()
	defer d.Mu.Unlock()
	d.CreateKeys = append(d.CreateKeys, r.IdempotencyKey)
	if d.Unknown {
		return nil, status.Error(codes.Unknown, "the request may or may not have been applied: check with service ls")
	}
	for _, s := range d.Services {
		if r.IdempotencyKey != "" && s.GetMeta().GetIdempotencyKey() == r.IdempotencyKey {
			return &minswv1.CreateServiceResponse{Service: s}, nil
		}
	}
	if _, err := d.service(r.Spec.Name); err == nil {
		return nil, status.Errorf(codes.AlreadyExists, "service %s already exists", r.Spec.Name)
	}
	s := &minswv1.Service{Id: "skbcdfvgidwafbm4nciq82env", Spec: r.Spec, SpecVersion: 1, Meta: &minswv1.Meta{Version: 1, CreatedAt: timestamppb.Now(), IdempotencyKey: r.IdempotencyKey}}
	d.Services = append(d.Services, s)
	d.reconcile(s)
	if d.Unsure > 0 {
		d.Unsure--
		return nil, status.Error(codes.Unknown, "the request may or may not have been applied: check with service ls")
	}
	return &minswv1.CreateServiceResponse{Service: s}, nil
}

// reconcile makes the service's missing tasks, as an orchestrator would.
func (d *Daemon) reconcile(s *minswv1.Service) {
	want := s.GetSpec().GetReplicated().GetReplicas()
	have := map[uint64]bool{}
	for _, t := range d.Tasks {
		if t.ServiceId != s.Id {
			continue
		}
		if t.Slot > want && t.DesiredState == minswv1.TaskState_TASK_STATE_RUNNING {
			t.DesiredState = minswv1.TaskState_TASK_STATE_SHUTDOWN
			t.Status.State = minswv1.TaskState_TASK_STATE_SHUTDOWN
		}
		if t.DesiredState == minswv1.TaskState_TASK_STATE_RUNNING {
			have[t.Slot] = true
		}
	}
	for slot := uint64(1); slot <= want; slot++ {
		if have[slot] {
			continue
		}
		d.Tasks = append(d.Tasks, &minswv1.Task{
			Id: "t" + d.newID(), ServiceId: s.Id, ServiceName: s.Spec.Name, Slot: slot, SpecVersion: s.SpecVersion,
			Meta: &minswv1.Meta{CreatedAt: timestamppb.Now()}, Spec: s.Spec.Task,
			DesiredState: minswv1.TaskState_TASK_STATE_RUNNING,
			Status:       &minswv1.TaskStatus{State: minswv1.TaskState_TASK_STATE_NEW, Timestamp: timestamppb.Now()},
		})
	}
}

func (d *Daemon) UpdateService(_ context.Context, r *minswv1.UpdateServiceRequest) (*minswv1.UpdateServiceResponse, error) {
	d.Mu.Lock()
	defer d.Mu.Unlock()
	s, err := d.service(r.Ref)
	if err != nil {
		return nil, err
	}
	if r.Version != s.Meta.Version {
		return nil, status.Error(codes.FailedPrecondition, "update out of sequence")
	}
	s.Spec = r.Spec
	s.Meta.Version++
	d.reconcile(s)
	return &minswv1.UpdateServiceResponse{Service: s}, nil
}

func (d *Daemon) RemoveService(_ context.Context, r *minswv1.RemoveServiceRequest) (*minswv1.RemoveServiceResponse, error) {
	d.Mu.Lock()
	defer d.Mu.Unlock()
	s, err := d.service(r.Ref)
	if err != nil {
		return nil, err
	}
	for i, x := range d.Services {
		if x == s {
			d.Services = append(d.Services[:i], d.Services[i+1:]...)
			break
		}
	}
	return &minswv1.RemoveServiceResponse{}, nil
}

var progression = map[minswv1.TaskState]minswv1.TaskState{
	minswv1.TaskState_TASK_STATE_NEW:       minswv1.TaskState_TASK_STATE_PENDING,
	minswv1.TaskState_TASK_STATE_PENDING:   minswv1.TaskState_TASK_STATE_ASSIGNED,
	minswv1.TaskState_TASK_STATE_ASSIGNED:  minswv1.TaskState_TASK_STATE_PREPARING,
	minswv1.TaskState_TASK_STATE_PREPARING: minswv1.TaskState_TASK_STATE_STARTING,
	minswv1.TaskState_TASK_STATE_STARTING:  minswv1.TaskState_TASK_STATE_RUNNING,
}

func (d *Daemon) ListTasks(_ context.Context, r *minswv1.ListTasksRequest) (*minswv1.ListTasksResponse, error) {
	d.Mu.Lock()
	defer d.Mu.Unlock()
	var out []*minswv1.Task
	for _, t := range d.Tasks {
		if t.DesiredState == minswv1.TaskState_TASK_STATE_RUNNING {
			if next, ok := progression[t.Status.State]; ok {
				if t.Status.State == minswv1.TaskState_TASK_STATE_PENDING && d.Unschedulable != "" {
					t.Status.Err = d.Unschedulable
				} else {
					t.Status.State = next
					if t.NodeId == "" {
						t.NodeId = d.Nodes[int(t.Slot)%len(d.Nodes)].Id
					}
				}
			}
		}
		if len(r.ServiceIds) > 0 && !contains(r.ServiceIds, t.ServiceId) {
			continue
		}
		if len(r.NodeIds) > 0 && !contains(r.NodeIds, t.NodeId) {
			continue
		}
		if len(r.DesiredStates) > 0 && !contains(r.DesiredStates, t.DesiredState) {
			continue
		}
		out = append(out, proto.Clone(t).(*minswv1.Task))
	}
	return &minswv1.ListTasksResponse{Tasks: out}, nil
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (d *Daemon) GetCluster(context.Context, *minswv1.GetClusterRequest) (*minswv1.GetClusterResponse, error) {
	d.Mu.Lock()
	defer d.Mu.Unlock()
	return &minswv1.GetClusterResponse{Cluster: proto.Clone(d.Cluster).(*minswv1.Cluster)}, nil
}

func (d *Daemon) UpdateCluster(_ context.Context, r *minswv1.UpdateClusterRequest) (*minswv1.UpdateClusterResponse, error) {
	d.Mu.Lock()
	defer d.Mu.Unlock()
	if r.Version != d.Cluster.Meta.Version {
		return nil, status.Error(codes.FailedPrecondition, "update out of sequence")
	}
	if r.RotateWorkerToken {
		d.Cluster.JoinTokens.Worker = "SWMTKN-1-worker-rotated"
	}
	if r.RotateManagerToken {
		d.Cluster.JoinTokens.Manager = "SWMTKN-1-manager-rotated"
	}
	d.Cluster.Meta.Version++
	return &minswv1.UpdateClusterResponse{Cluster: d.Cluster}, nil
}

func (d *Daemon) Init(_ context.Context, r *minswv1.InitRequest) (*minswv1.InitResponse, error) {
	d.Mu.Lock()
	defer d.Mu.Unlock()
	d.LastInit = r
	return &minswv1.InitResponse{NodeId: d.Self, ClusterId: "c1",
		WorkerJoinCommand: "minsw swarm join --token SWMTKN-1-worker 192.168.56.10:2377"}, nil
}

func (d *Daemon) Join(_ context.Context, r *minswv1.JoinRequest) (*minswv1.JoinResponse, error) {
	d.Mu.Lock()
	defer d.Mu.Unlock()
	d.LastJoin = r
	if r.JoinToken != "SWMTKN-1-worker" {
		return nil, status.Error(codes.InvalidArgument, "invalid join token")
	}
	return &minswv1.JoinResponse{NodeId: "w1orker000000000000000001"}, nil
}

func (d *Daemon) Leave(context.Context, *minswv1.LeaveRequest) (*minswv1.LeaveResponse, error) {
	return &minswv1.LeaveResponse{}, nil
}

func (d *Daemon) Info(context.Context, *minswv1.InfoRequest) (*minswv1.InfoResponse, error) {
	return &minswv1.InfoResponse{LocalNodeState: "active", NodeId: d.Self, NodeAddr: "192.168.56.10", ControlAvailable: true}, nil
}

func (d *Daemon) container(ref string) (*minswv1.Container, error) {
	return resolve("container", ref, d.Containers, (*minswv1.Container).GetId, (*minswv1.Container).GetName)
}

func (d *Daemon) ListContainers(_ context.Context, r *minswv1.ListContainersRequest) (*minswv1.ListContainersResponse, error) {
	d.Mu.Lock()
	defer d.Mu.Unlock()
	var out []*minswv1.Container
	for _, c := range d.Containers {
		if r.All || c.State == "running" {
			out = append(out, c)
		}
	}
	return &minswv1.ListContainersResponse{Containers: out}, nil
}

func (d *Daemon) InspectContainer(_ context.Context, r *minswv1.InspectContainerRequest) (*minswv1.InspectContainerResponse, error) {
	d.Mu.Lock()
	defer d.Mu.Unlock()
	c, err := d.container(r.Ref)
	if err != nil {
		return nil, err
	}
	return &minswv1.InspectContainerResponse{Container: c}, nil
}

func (d *Daemon) Logs(r *minswv1.LogsRequest, s grpc.ServerStreamingServer[minswv1.LogsResponse]) error {
	d.Mu.Lock()
	c, err := d.container(r.Container)
	d.Mu.Unlock()
	if err != nil {
		return err
	}
	lines := strings.SplitAfter(d.ContainerLogs[c.Id[:12]], "\n")
	lines = lines[:len(lines)-1]
	if r.Tail >= 0 && int(r.Tail) < len(lines) {
		lines = lines[len(lines)-int(r.Tail):]
	}
	for _, l := range lines {
		if err := s.Send(&minswv1.LogsResponse{Data: []byte(l)}); err != nil {
			return err
		}
	}
	return nil
}

// Exec runs a toy shell: "cat" echoes stdin until it closes, "exit N"
// exits with N, "tty" reports the terminal settings it was started with.
func (d *Daemon) Exec(s grpc.BidiStreamingServer[minswv1.ExecRequest, minswv1.ExecResponse]) error {
	first, err := s.Recv()
	if err != nil {
		return err
	}
	start := first.GetStart()
	d.Mu.Lock()
	_, err = d.container(start.GetContainer())
	d.Mu.Unlock()
	if err != nil {
		return err
	}
	exit := func(code int32) error { return s.Send(&minswv1.ExecResponse{Exited: true, ExitCode: code}) }
	switch start.Cmd[0] {
	case "cat":
		for {
			req, err := s.Recv()
			if err == io.EOF || req.GetCloseStdin() {
				return exit(0)
			}
			if err != nil {
				return err
			}
			if err := s.Send(&minswv1.ExecResponse{Stdout: req.GetStdin()}); err != nil {
				return err
			}
		}
	case "exit":
		var code int32
		fmt.Sscan(start.Cmd[1], &code)
		if err := s.Send(&minswv1.ExecResponse{Stderr: []byte("bye\n")}); err != nil {
			return err
		}
		return exit(code)
	case "winch":
		// Report the start size, then each resize, and exit 7 on input.
		msg := fmt.Sprintf("start rows=%d cols=%d tty=%v stdin=%v\n", start.Rows, start.Cols, start.Tty, start.Stdin)
		if err := s.Send(&minswv1.ExecResponse{Stdout: []byte(msg)}); err != nil {
			return err
		}
		for {
			req, err := s.Recv()
			if err != nil {
				return err
			}
			if r := req.GetResize(); r != nil {
				msg := fmt.Sprintf("resize rows=%d cols=%d\n", r.Rows, r.Cols)
				if err := s.Send(&minswv1.ExecResponse{Stdout: []byte(msg)}); err != nil {
					return err
				}
			}
			if len(req.GetStdin()) > 0 {
				return exit(7)
			}
		}
	case "tty":
		msg := fmt.Sprintf("tty=%v stdin=%v env=%v\n", start.Tty, start.Stdin, start.Env)
		if err := s.Send(&minswv1.ExecResponse{Stdout: []byte(msg)}); err != nil {
			return err
		}
		return exit(0)
	}
	return status.Errorf(codes.InvalidArgument, "exec: %q: executable file not found in $PATH", start.Cmd[0])
}

// ServiceLogs answers for the seed's web service: three lines per task, the
// last tail of them; "web-down" has its second task's node down.
func (d *Daemon) ServiceLogs(r *minswv1.ServiceLogsRequest, s grpc.ServerStreamingServer[minswv1.LogLine]) error {
	if r.GetRef() != "web" && r.GetRef() != "web-down" {
		return status.Errorf(codes.NotFound, "no such task or service: %s", r.GetRef())
	}
	hosts := map[string]string{"w1orker000000000000000001": "swarm-worker1", "w2orker000000000000000002": "swarm-worker2"}
	d.Mu.Lock()
	tasks := d.Tasks
	d.Mu.Unlock()
	for i, t := range tasks {
		base := &minswv1.LogLine{TaskId: t.Id, NodeId: t.NodeId, TaskName: task.ContainerName(t), NodeName: hosts[t.NodeId]}
		if r.GetRef() == "web-down" && i == 1 {
			base.Error = "node swarm-worker2 is down: its logs cannot be read"
			if err := s.Send(base); err != nil {
				return err
			}
			continue
		}
		lines := []string{"GET / 200\n", "GET /health 200\n", "no newline"}
		if n := int(r.GetTail()); n >= 0 && n < len(lines) {
			lines = lines[len(lines)-n:]
		}
		for _, l := range lines {
			m := proto.Clone(base).(*minswv1.LogLine)
			m.Data = []byte(l)
			if err := s.Send(m); err != nil {
				return err
			}
		}
	}
	return nil
}
