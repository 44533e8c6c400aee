package scheduler

import (
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// nodeOpt changes a test node from the default: a ready, active worker.
type nodeOpt func(*minswv1.Node)

func node(id, hostname string, opts ...nodeOpt) *minswv1.Node {
	n := &minswv1.Node{
		Id:          id,
		Spec:        &minswv1.NodeSpec{},
		Description: &minswv1.NodeDescription{Hostname: hostname, Os: "linux", Architecture: "x86_64"},
		Status:      &minswv1.NodeStatus{State: minswv1.NodeState_NODE_STATE_READY},
	}
	for _, o := range opts {
		o(n)
	}
	return n
}

func manager(n *minswv1.Node) { n.Role = minswv1.NodeRole_NODE_ROLE_MANAGER }
func drained(n *minswv1.Node) { n.Spec.Availability = minswv1.NodeAvailability_NODE_AVAILABILITY_DRAIN }
func paused(n *minswv1.Node)  { n.Spec.Availability = minswv1.NodeAvailability_NODE_AVAILABILITY_PAUSE }
func down(n *minswv1.Node)    { n.Status.State = minswv1.NodeState_NODE_STATE_DOWN }

func label(k, v string) nodeOpt {
	return func(n *minswv1.Node) {
		if n.Spec.Labels == nil {
			n.Spec.Labels = map[string]string{}
		}
		n.Spec.Labels[k] = v
	}
}

// pendingTask is a task the orchestrator just made: state pending, no node.
func pendingTask(id, service string, constraints ...string) *minswv1.Task {
	t := &minswv1.Task{
		Id:           id,
		ServiceId:    service,
		Spec:         &minswv1.TaskSpec{},
		Status:       &minswv1.TaskStatus{State: minswv1.TaskState_TASK_STATE_PENDING},
		DesiredState: minswv1.TaskState_TASK_STATE_RUNNING,
	}
	if len(constraints) > 0 {
		t.Spec.Placement = &minswv1.Placement{Constraints: constraints}
	}
	return t
}

// globalTask is a pending task whose node the global orchestrator chose.
func globalTask(id, service, nodeID string, constraints ...string) *minswv1.Task {
	t := pendingTask(id, service, constraints...)
	t.NodeId = nodeID
	return t
}

// runningTask is a task already on a node.
func runningTask(id, service, nodeID string) *minswv1.Task {
	return withState(globalTask(id, service, nodeID), minswv1.TaskState_TASK_STATE_RUNNING)
}

func withState(t *minswv1.Task, st minswv1.TaskState) *minswv1.Task {
	t.Status.State = st
	return t
}

func withVersion(t *minswv1.Task, v uint64) *minswv1.Task {
	t.SpecVersion = v
	return t
}

func nodes3() []*minswv1.Node {
	return []*minswv1.Node{
		node("n1manager", "swarm-manager", manager),
		node("n2worker1", "swarm-worker1"),
		node("n3worker2", "swarm-worker2"),
	}
}

// publishHost publishes a port on the task's node (`--publish mode=host`), as
// the service's endpoint copied into the task says.
func publishHost(proto minswv1.PortProtocol, published uint32) func(*minswv1.Task) *minswv1.Task {
	return publish(proto, published, minswv1.PublishMode_PUBLISH_MODE_HOST)
}

// publishIngress publishes a port through the routing mesh.
func publishIngress(published uint32) func(*minswv1.Task) *minswv1.Task {
	return publish(minswv1.PortProtocol_PORT_PROTOCOL_TCP, published, minswv1.PublishMode_PUBLISH_MODE_INGRESS)
}

func publish(proto minswv1.PortProtocol, published uint32, mode minswv1.PublishMode) func(*minswv1.Task) *minswv1.Task {
	return func(t *minswv1.Task) *minswv1.Task {
		if t.Endpoint == nil {
			t.Endpoint = &minswv1.Endpoint{}
		}
		t.Endpoint.Ports = append(t.Endpoint.Ports, &minswv1.PortConfig{
			Protocol: proto, TargetPort: 80, PublishedPort: published, PublishMode: mode,
		})
		return t
	}
}

const (
	tcp = minswv1.PortProtocol_PORT_PROTOCOL_TCP
	udp = minswv1.PortProtocol_PORT_PROTOCOL_UDP
)
