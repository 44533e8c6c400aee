package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"strconv"

	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/executor"
)

// Labels the agent puts on every task container; adoption after a restart
// goes by LabelTaskID.
const (
	LabelTaskID      = "minsw.task.id"
	LabelTaskName    = "minsw.task.name"
	LabelServiceID   = "minsw.service.id"
	LabelServiceName = "minsw.service.name"
	LabelNodeID      = "minsw.node.id"
)

// embeddedDNS is the resolver the netdriver serves inside every container
// attached to an overlay.
const embeddedDNS = "127.0.0.11"

// ContainerID is the container a task runs in: hex sha256 of the task ID,
// so creating it again after a restart finds the same container.
func ContainerID(taskID string) string {
	sum := sha256.Sum256([]byte(taskID))
	return hex.EncodeToString(sum[:])
}

// TaskName is Swarm's container name: <service>.<slot>.<task>, or
// <service>.<node>.<task> for a global service's task (slot 0).
func TaskName(t *api.Task) string {
	mid := strconv.FormatUint(t.GetSlot(), 10)
	if t.GetSlot() == 0 {
		mid = t.GetNodeId()
	}
	return t.GetServiceName() + "." + mid + "." + t.GetId()
}

// BuildSpec is the container spec for task t on node nodeID, joining the
// network namespace at netnsPath ("" for a new empty one).
func BuildSpec(t *api.Task, nodeID, netnsPath string) executor.Spec {
	c := t.GetSpec().GetContainer()
	id := ContainerID(t.GetId())
	labels := make(map[string]string, len(c.GetLabels())+5)
	maps.Copy(labels, c.GetLabels())
	labels[LabelTaskID] = t.GetId()
	labels[LabelTaskName] = TaskName(t)
	labels[LabelServiceID] = t.GetServiceId()
	labels[LabelServiceName] = t.GetServiceName()
	labels[LabelNodeID] = nodeID
	s := executor.Spec{
		ID:        id,
		Name:      TaskName(t),
		Image:     c.GetImage(),
		Command:   append([]string(nil), c.GetCommand()...),
		Args:      append([]string(nil), c.GetArgs()...),
		Env:       append([]string(nil), c.GetEnv()...),
		Hostname:  c.GetHostname(),
		NetnsPath: netnsPath,
		Labels:    labels,
	}
	if s.Hostname == "" {
		s.Hostname = id[:12]
	}
	if (len(t.GetNetworks()) > 0 || len(t.GetSpec().GetNetworks()) > 0) && !t.GetSpec().OnHostNetwork() {
		s.DNS = []string{embeddedDNS}
	}
	return s
}
