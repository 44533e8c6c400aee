package convert

import (
	"github.com/docker/docker/api/types/swarm"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// The hooks below translate the service options that arrive with later
// issues (health checks, mounts, secrets, resources, update order...): each
// new field adds its path to serviceFields and one line here each way.

func extendContainerSpec(in *api.ContainerSpec, out *swarm.ContainerSpec) {
	out.Mounts = mounts(in.GetMounts())
	out.Secrets = secretRefs(in.GetSecrets())
	out.Configs = configRefs(in.GetConfigs())
	out.Healthcheck = health(in.GetHealthcheck())
	containerOptions(in, out)
}

func extendTaskSpec(in *api.TaskSpec, out *swarm.TaskSpec) { taskOptions(in, out) }

func extendServiceSpec(in *api.ServiceSpec, out *swarm.ServiceSpec) {
	if u := in.GetUpdate(); u != nil {
		out.UpdateConfig = updateConfig(u)
	}
	if r := in.GetRollback(); r != nil {
		out.RollbackConfig = updateConfig(r)
	}
	serviceOptions(in, out)
}

func containerSpecFrom(in *swarm.ContainerSpec, out *api.ContainerSpec) error {
	var err error
	if out.Mounts, err = mountsFrom(in.Mounts); err != nil {
		return err
	}
	out.Secrets = secretRefsFrom(in.Secrets)
	if out.Configs, err = configRefsFrom(in.Configs); err != nil {
		return err
	}
	out.Healthcheck = healthFrom(in.Healthcheck)
	containerOptionsFrom(in, out)
	return nil
}

func taskSpecFrom(in swarm.TaskSpec, out *api.TaskSpec) error { return taskOptionsFrom(in, out) }

func serviceSpecFrom(in swarm.ServiceSpec, out *api.ServiceSpec) error {
	var err error
	if in.UpdateConfig != nil {
		if out.Update, err = updateConfigFrom(*in.UpdateConfig, "UpdateConfig"); err != nil {
			return err
		}
	}
	if in.RollbackConfig != nil {
		if out.Rollback, err = updateConfigFrom(*in.RollbackConfig, "RollbackConfig"); err != nil {
			return err
		}
	}
	return serviceOptionsFrom(in, out)
}
