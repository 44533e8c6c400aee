// Package convert translates between minsw's API objects (proto/minsw/v1)
// and the Docker Engine API's JSON types (github.com/docker/docker/api/types),
// both ways, in one place. It is pure: no I/O, no clocks. What docker can
// say but minsw cannot do is refused by name (Unsupported), never dropped.
package convert

import (
	"strconv"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

func ts(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

func meta(m *api.Meta) swarm.Meta {
	return swarm.Meta{Version: swarm.Version{Index: m.GetVersion()}, CreatedAt: ts(m.GetCreatedAt()), UpdatedAt: ts(m.GetUpdatedAt())}
}

func durPtr(d *durationpb.Duration) *time.Duration {
	if d == nil {
		return nil
	}
	v := d.AsDuration()
	return &v
}

func protoDur(d *time.Duration) *durationpb.Duration {
	if d == nil {
		return nil
	}
	return durationpb.New(*d)
}

func copyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// labels is copyMap that keeps an empty map: docker's Annotations always
// carry "Labels" (null reads badly in inspect output).
func labels(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ---- nodes ----

var nodeRoles = map[api.NodeRole]swarm.NodeRole{
	api.NodeRole_NODE_ROLE_WORKER:  swarm.NodeRoleWorker,
	api.NodeRole_NODE_ROLE_MANAGER: swarm.NodeRoleManager,
}

var availabilities = map[api.NodeAvailability]swarm.NodeAvailability{
	api.NodeAvailability_NODE_AVAILABILITY_ACTIVE: swarm.NodeAvailabilityActive,
	api.NodeAvailability_NODE_AVAILABILITY_PAUSE:  swarm.NodeAvailabilityPause,
	api.NodeAvailability_NODE_AVAILABILITY_DRAIN:  swarm.NodeAvailabilityDrain,
}

var nodeStates = map[api.NodeState]swarm.NodeState{
	api.NodeState_NODE_STATE_UNKNOWN:      swarm.NodeStateUnknown,
	api.NodeState_NODE_STATE_DOWN:         swarm.NodeStateDown,
	api.NodeState_NODE_STATE_READY:        swarm.NodeStateReady,
	api.NodeState_NODE_STATE_DISCONNECTED: swarm.NodeStateDisconnected,
}

var reachabilities = map[api.Reachability]swarm.Reachability{
	api.Reachability_REACHABILITY_UNKNOWN:     swarm.ReachabilityUnknown,
	api.Reachability_REACHABILITY_UNREACHABLE: swarm.ReachabilityUnreachable,
	api.Reachability_REACHABILITY_REACHABLE:   swarm.ReachabilityReachable,
}

// Node is a minsw node as docker shows it.
func Node(n *api.Node) swarm.Node {
	out := swarm.Node{
		ID:   n.GetId(),
		Meta: meta(n.GetMeta()),
		Spec: swarm.NodeSpec{
			Annotations:  swarm.Annotations{Labels: labels(n.GetSpec().GetLabels())},
			Role:         nodeRoles[n.GetSpec().GetDesiredRole()],
			Availability: availabilities[n.GetSpec().GetAvailability()],
		},
		Description: swarm.NodeDescription{
			Hostname: n.GetDescription().GetHostname(),
			Platform: swarm.Platform{Architecture: n.GetDescription().GetArchitecture(), OS: n.GetDescription().GetOs()},
			Engine:   swarm.EngineDescription{EngineVersion: n.GetDescription().GetEngineVersion(), Labels: labels(n.GetDescription().GetEngineLabels())},
		},
		Status: swarm.NodeStatus{
			State:   nodeStates[n.GetStatus().GetState()],
			Message: n.GetStatus().GetMessage(),
			Addr:    n.GetStatus().GetAddr(),
		},
	}
	nodeResources(n.GetDescription(), &out.Description)
	if ms := n.GetManagerStatus(); ms != nil {
		out.ManagerStatus = &swarm.ManagerStatus{Leader: ms.GetLeader(), Reachability: reachabilities[ms.GetReachability()], Addr: ms.GetAddr()}
	}
	return out
}

// Availability is minsw's for docker's; "" (init and join requests
// without --availability) is active.
func Availability(a swarm.NodeAvailability) (api.NodeAvailability, error) {
	switch a {
	case swarm.NodeAvailabilityActive, "":
		return api.NodeAvailability_NODE_AVAILABILITY_ACTIVE, nil
	case swarm.NodeAvailabilityPause:
		return api.NodeAvailability_NODE_AVAILABILITY_PAUSE, nil
	case swarm.NodeAvailabilityDrain:
		return api.NodeAvailability_NODE_AVAILABILITY_DRAIN, nil
	}
	return 0, invalid("invalid availability %q, only active, drain and pause are supported", a)
}

// NodeSpec is the minsw node spec for docker's.
func NodeSpec(s swarm.NodeSpec) (*api.NodeSpec, error) {
	out := &api.NodeSpec{Labels: copyMap(s.Labels)}
	switch s.Role {
	case swarm.NodeRoleWorker:
		out.DesiredRole = api.NodeRole_NODE_ROLE_WORKER
	case swarm.NodeRoleManager:
		out.DesiredRole = api.NodeRole_NODE_ROLE_MANAGER
	default:
		return nil, invalid("invalid role %q, only worker and manager are supported", s.Role)
	}
	if s.Availability == "" {
		return nil, invalid("invalid availability %q, only active, drain and pause are supported", s.Availability)
	}
	a, err := Availability(s.Availability)
	if err != nil {
		return nil, err
	}
	out.Availability = a
	if s.Name != "" {
		return nil, unsupported("Spec.Name", "node names")
	}
	return out, nil
}

// ---- services ----

var restartConditions = map[api.RestartCondition]swarm.RestartPolicyCondition{
	api.RestartCondition_RESTART_CONDITION_ANY:        swarm.RestartPolicyConditionAny,
	api.RestartCondition_RESTART_CONDITION_ON_FAILURE: swarm.RestartPolicyConditionOnFailure,
	api.RestartCondition_RESTART_CONDITION_NONE:       swarm.RestartPolicyConditionNone,
}

func ports(ps []*api.PortConfig) []swarm.PortConfig {
	var out []swarm.PortConfig
	for _, p := range ps {
		pc := swarm.PortConfig{Name: p.GetName(), TargetPort: p.GetTargetPort(), PublishedPort: p.GetPublishedPort(),
			Protocol: swarm.PortConfigProtocolTCP, PublishMode: swarm.PortConfigPublishModeIngress}
		if p.GetProtocol() == api.PortProtocol_PORT_PROTOCOL_UDP {
			pc.Protocol = swarm.PortConfigProtocolUDP
		}
		if p.GetPublishMode() == api.PublishMode_PUBLISH_MODE_HOST {
			pc.PublishMode = swarm.PortConfigPublishModeHost
		}
		out = append(out, pc)
	}
	return out
}

// TaskSpec is a minsw task spec as docker shows it.
func TaskSpec(t *api.TaskSpec) swarm.TaskSpec {
	c := t.GetContainer()
	out := swarm.TaskSpec{
		ContainerSpec: &swarm.ContainerSpec{
			Image:           c.GetImage(),
			Labels:          copyMap(c.GetLabels()),
			Command:         c.GetCommand(),
			Args:            c.GetArgs(),
			Hostname:        c.GetHostname(),
			Env:             c.GetEnv(),
			Dir:             c.GetDir(),
			User:            c.GetUser(),
			StopGracePeriod: durPtr(c.GetStopGracePeriod()),
		},
		ForceUpdate: t.GetForceUpdate(),
	}
	extendContainerSpec(c, out.ContainerSpec)
	if r := t.GetRestart(); r != nil {
		max := r.GetMaxAttempts()
		out.RestartPolicy = &swarm.RestartPolicy{Condition: restartConditions[r.GetCondition()], Delay: durPtr(r.GetDelay()), MaxAttempts: &max, Window: durPtr(r.GetWindow())}
	}
	if p := t.GetPlacement(); p != nil {
		out.Placement = &swarm.Placement{Constraints: p.GetConstraints()}
	}
	for _, n := range t.GetNetworks() {
		out.Networks = append(out.Networks, swarm.NetworkAttachmentConfig{Target: n.GetTarget(), Aliases: n.GetAliases()})
	}
	extendTaskSpec(t, &out)
	return out
}

// ServiceSpec is a minsw service spec as docker shows it.
func ServiceSpec(s *api.ServiceSpec) swarm.ServiceSpec {
	out := swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: s.GetName(), Labels: labels(s.GetLabels())},
		TaskTemplate: TaskSpec(s.GetTask()),
		EndpointSpec: &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP, Ports: ports(s.GetEndpoint().GetPorts())},
	}
	switch m := s.GetMode().(type) {
	case *api.ServiceSpec_Global:
		out.Mode.Global = &swarm.GlobalService{}
	case *api.ServiceSpec_Replicated:
		n := m.Replicated.GetReplicas()
		out.Mode.Replicated = &swarm.ReplicatedService{Replicas: &n}
	default:
		n := uint64(1)
		out.Mode.Replicated = &swarm.ReplicatedService{Replicas: &n}
	}
	extendServiceSpec(s, &out)
	return out
}

// Service is a minsw service as docker shows it; status, when not nil, is
// the running/desired task count `status=true` asks for.
func Service(s *api.Service, status *swarm.ServiceStatus) swarm.Service {
	out := swarm.Service{
		ID:            s.GetId(),
		Meta:          meta(s.GetMeta()),
		Spec:          ServiceSpec(s.GetSpec()),
		ServiceStatus: status,
		UpdateStatus:  UpdateStatus(s.GetUpdateStatus()),
		JobStatus:     jobStatus(s),
	}
	if s.GetPreviousSpec() != nil {
		ps := ServiceSpec(s.GetPreviousSpec())
		out.PreviousSpec = &ps
	}
	ep := s.GetEndpoint()
	out.Endpoint = swarm.Endpoint{Spec: *out.Spec.EndpointSpec, Ports: ports(ep.GetPorts())}
	for _, v := range ep.GetVirtualIps() {
		out.Endpoint.VirtualIPs = append(out.Endpoint.VirtualIPs, swarm.EndpointVirtualIP{NetworkID: v.GetNetworkId(), Addr: v.GetAddr()})
	}
	return out
}

// ServiceSpecFrom is the minsw spec for a docker service spec, or an
// errdefs error naming what minsw cannot do.
func ServiceSpecFrom(s swarm.ServiceSpec) (*api.ServiceSpec, error) {
	if err := checkSupported(s); err != nil {
		return nil, err
	}
	ts := s.TaskTemplate
	cs := ts.ContainerSpec
	if cs == nil {
		return nil, invalid("ContainerSpec must be provided (minsw runs containers only)")
	}
	out := &api.ServiceSpec{
		Name:   s.Name,
		Labels: copyMap(s.Labels),
		Task: &api.TaskSpec{
			Container: &api.ContainerSpec{
				Image:           cs.Image,
				Command:         cs.Command,
				Args:            cs.Args,
				Env:             cs.Env,
				Hostname:        cs.Hostname,
				Dir:             cs.Dir,
				User:            cs.User,
				Labels:          copyMap(cs.Labels),
				StopGracePeriod: protoDur(cs.StopGracePeriod),
			},
			ForceUpdate: ts.ForceUpdate,
		},
	}
	if err := containerSpecFrom(cs, out.Task.Container); err != nil {
		return nil, err
	}
	if err := taskSpecFrom(ts, out.Task); err != nil {
		return nil, err
	}
	if rp := ts.RestartPolicy; rp != nil {
		r := &api.RestartPolicy{Delay: protoDur(rp.Delay), Window: protoDur(rp.Window)}
		switch rp.Condition {
		case swarm.RestartPolicyConditionAny, "":
			r.Condition = api.RestartCondition_RESTART_CONDITION_ANY
		case swarm.RestartPolicyConditionOnFailure:
			r.Condition = api.RestartCondition_RESTART_CONDITION_ON_FAILURE
		case swarm.RestartPolicyConditionNone:
			r.Condition = api.RestartCondition_RESTART_CONDITION_NONE
		default:
			return nil, invalid("invalid RestartCondition: %q", rp.Condition)
		}
		if rp.MaxAttempts != nil {
			r.MaxAttempts = *rp.MaxAttempts
		}
		out.Task.Restart = r
	}
	if p := ts.Placement; p != nil && len(p.Constraints) > 0 {
		if out.Task.Placement == nil {
			out.Task.Placement = &api.Placement{}
		}
		out.Task.Placement.Constraints = p.Constraints
	}
	// docker sends networks in the task template; API < 1.25 put them in
	// the service spec.
	for _, n := range append(append([]swarm.NetworkAttachmentConfig{}, ts.Networks...), s.Networks...) {
		out.Task.Networks = append(out.Task.Networks, &api.NetworkAttachmentConfig{Target: n.Target, Aliases: n.Aliases})
	}
	switch {
	case s.Mode.Global != nil:
		out.Mode = &api.ServiceSpec_Global{Global: &api.GlobalService{}}
	default:
		n := uint64(1)
		if s.Mode.Replicated != nil && s.Mode.Replicated.Replicas != nil {
			n = *s.Mode.Replicated.Replicas
		}
		out.Mode = &api.ServiceSpec_Replicated{Replicated: &api.ReplicatedService{Replicas: n}}
	}
	if ep := s.EndpointSpec; ep != nil && len(ep.Ports) > 0 {
		out.Endpoint = &api.EndpointSpec{}
		for _, p := range ep.Ports {
			pc := &api.PortConfig{Name: p.Name, TargetPort: p.TargetPort, PublishedPort: p.PublishedPort}
			switch p.Protocol {
			case swarm.PortConfigProtocolTCP, "":
			case swarm.PortConfigProtocolUDP:
				pc.Protocol = api.PortProtocol_PORT_PROTOCOL_UDP
			default:
				return nil, unsupported("EndpointSpec.Ports.Protocol", "protocol "+string(p.Protocol))
			}
			switch p.PublishMode {
			case swarm.PortConfigPublishModeIngress, "":
			case swarm.PortConfigPublishModeHost:
				pc.PublishMode = api.PublishMode_PUBLISH_MODE_HOST
			default:
				return nil, invalid("invalid PublishMode %q", p.PublishMode)
			}
			out.Endpoint.Ports = append(out.Endpoint.Ports, pc)
		}
	}
	if err := serviceSpecFrom(s, out); err != nil {
		return nil, err
	}
	return out, nil
}

// ---- tasks ----

var taskStates = map[api.TaskState]swarm.TaskState{
	api.TaskState_TASK_STATE_NEW:       swarm.TaskStateNew,
	api.TaskState_TASK_STATE_PENDING:   swarm.TaskStatePending,
	api.TaskState_TASK_STATE_ASSIGNED:  swarm.TaskStateAssigned,
	api.TaskState_TASK_STATE_ACCEPTED:  swarm.TaskStateAccepted,
	api.TaskState_TASK_STATE_PREPARING: swarm.TaskStatePreparing,
	api.TaskState_TASK_STATE_READY:     swarm.TaskStateReady,
	api.TaskState_TASK_STATE_STARTING:  swarm.TaskStateStarting,
	api.TaskState_TASK_STATE_RUNNING:   swarm.TaskStateRunning,
	api.TaskState_TASK_STATE_COMPLETE:  swarm.TaskStateComplete,
	api.TaskState_TASK_STATE_SHUTDOWN:  swarm.TaskStateShutdown,
	api.TaskState_TASK_STATE_FAILED:    swarm.TaskStateFailed,
	api.TaskState_TASK_STATE_REJECTED:  swarm.TaskStateRejected,
	api.TaskState_TASK_STATE_REMOVE:    swarm.TaskStateRemove,
	api.TaskState_TASK_STATE_ORPHANED:  swarm.TaskStateOrphaned,
}

// TaskState is docker's name for a minsw task state.
func TaskState(s api.TaskState) swarm.TaskState { return taskStates[s] }

// TaskStateFrom is the minsw task state docker names s.
func TaskStateFrom(s string) (api.TaskState, bool) {
	for k, v := range taskStates {
		if string(v) == s {
			return k, true
		}
	}
	return 0, false
}

// Task is a minsw task as docker shows it; networks, when it holds them,
// fills in the attachments' network objects.
func Task(t *api.Task, networks map[string]*api.Network) swarm.Task {
	out := swarm.Task{
		ID:           t.GetId(),
		Meta:         meta(t.GetMeta()),
		Spec:         TaskSpec(t.GetSpec()),
		ServiceID:    t.GetServiceId(),
		Slot:         int(t.GetSlot()),
		NodeID:       t.GetNodeId(),
		DesiredState: TaskState(t.GetDesiredState()),
		Status: swarm.TaskStatus{
			Timestamp:  ts(t.GetStatus().GetTimestamp()),
			State:      TaskState(t.GetStatus().GetState()),
			Message:    t.GetStatus().GetMessage(),
			Err:        t.GetStatus().GetErr(),
			PortStatus: swarm.PortStatus{Ports: ports(t.GetStatus().GetPorts())},
		},
	}
	if c := t.GetStatus().GetContainer(); c != nil {
		out.Status.ContainerStatus = &swarm.ContainerStatus{ContainerID: c.GetContainerId(), PID: int(c.GetPid()), ExitCode: int(c.GetExitCode())}
	}
	for _, a := range t.GetNetworks() {
		na := swarm.NetworkAttachment{Network: swarm.Network{ID: a.GetNetworkId()}, Addresses: a.GetAddresses()}
		if n := networks[a.GetNetworkId()]; n != nil {
			na.Network = SwarmNetwork(n)
		}
		out.NetworksAttachments = append(out.NetworksAttachments, na)
	}
	return out
}

// ---- errors ----

func invalid(format string, a ...any) error { return errdefs.InvalidArgument(format, a...) }

func unsupported(field, what string) error {
	return errdefs.Unimplemented("minsw does not support %s (%s)", what, field)
}

func vni(n *api.Network) string { return strconv.FormatUint(uint64(n.GetVni()), 10) }

// ServiceStatuses counts, per service, the running and desired tasks that
// `GET /services?status=true` reports (the REPLICAS column): desired is the
// replica count, or for a global service the tasks meant to run; running
// counts tasks running that are meant to.
func ServiceStatuses(services []*api.Service, tasks []*api.Task) map[string]*swarm.ServiceStatus {
	out := make(map[string]*swarm.ServiceStatus, len(services))
	global := map[string]bool{}
	for _, svc := range services {
		st := &swarm.ServiceStatus{}
		if r := svc.GetSpec().GetReplicated(); r != nil {
			st.DesiredTasks = r.GetReplicas()
		}
		if svc.GetSpec().GetGlobal() != nil || isJob(svc.GetSpec()) {
			global[svc.GetId()] = true
		}
		out[svc.GetId()] = st
	}
	for _, t := range tasks {
		st := out[t.GetServiceId()]
		if st == nil {
			continue
		}
		// A job's task is done when complete, whatever it is meant to be.
		if t.GetStatus().GetState() == api.TaskState_TASK_STATE_COMPLETE {
			st.CompletedTasks++
		}
		if t.GetDesiredState() > api.TaskState_TASK_STATE_RUNNING {
			continue
		}
		if global[t.GetServiceId()] {
			st.DesiredTasks++
		}
		if t.GetStatus().GetState() == api.TaskState_TASK_STATE_RUNNING {
			st.RunningTasks++
		}
	}
	return out
}
