package convert

import (
	"github.com/docker/docker/api/types/swarm"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// The hooks below translate the service options that arrive with later
// issues (health checks, mounts, secrets, resources, update order...): each
// new field adds its path to serviceFields and one line here each way.

func extendContainerSpec(_ *api.ContainerSpec, _ *swarm.ContainerSpec) {}

func extendTaskSpec(_ *api.TaskSpec, _ *swarm.TaskSpec) {}

func extendServiceSpec(_ *api.ServiceSpec, _ *swarm.ServiceSpec) {}

func containerSpecFrom(_ *swarm.ContainerSpec, _ *api.ContainerSpec) error { return nil }

func taskSpecFrom(_ swarm.TaskSpec, _ *api.TaskSpec) error { return nil }

func serviceSpecFrom(_ swarm.ServiceSpec, _ *api.ServiceSpec) error { return nil }
