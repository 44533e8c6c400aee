package stack

import (
	"context"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/minsw/minsw/client"
	"github.com/minsw/minsw/engineapi/convert"
	"github.com/minsw/minsw/internal/errdefs"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/stack"
)

// clusterAPI applies a stack through the daemon's Control API, translating
// docker's types with the same package the Engine API uses, so minsw's
// stacks and the docker CLI's are the same objects.
type clusterAPI struct{ cl *client.Client }

func (a clusterAPI) CreateNetwork(ctx context.Context, name string, opts network.CreateOptions) (string, error) {
	spec, err := convert.NetworkSpecFrom(network.CreateRequest{Name: name, CreateOptions: opts})
	if err != nil {
		return "", err
	}
	r, err := a.cl.Control.CreateNetwork(ctx, &minswv1.CreateNetworkRequest{Spec: spec})
	return r.GetNetwork().GetId(), err
}

// RemoveNetwork waits out the tasks of just-removed services that still
// hold the network (the daemon refuses while they stop), for a bounded time.
func (a clusterAPI) RemoveNetwork(ctx context.Context, id string) error {
	deadline := time.Now().Add(networkRemoveWait)
	for {
		_, err := a.cl.Control.RemoveNetwork(ctx, &minswv1.RemoveNetworkRequest{Ref: id})
		if err == nil || !errdefs.Is(err, errdefs.KindFailedPrecondition) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// networkRemoveWait bounds how long stack rm waits for a stack's tasks to
// let go of its networks.
const networkRemoveWait = 60 * time.Second

func (a clusterAPI) CreateService(ctx context.Context, s swarm.ServiceSpec) (string, error) {
	spec, err := convert.ServiceSpecFrom(s)
	if err != nil {
		return "", err
	}
	r, err := a.cl.Control.CreateService(ctx, &minswv1.CreateServiceRequest{Spec: spec})
	return r.GetService().GetId(), err
}

func (a clusterAPI) UpdateService(ctx context.Context, id string, version uint64, s swarm.ServiceSpec) error {
	spec, err := convert.ServiceSpecFrom(s)
	if err != nil {
		return err
	}
	_, err = a.cl.Control.UpdateService(ctx, &minswv1.UpdateServiceRequest{Ref: id, Version: version, Spec: spec})
	return err
}

func (a clusterAPI) RemoveService(ctx context.Context, id string) error {
	_, err := a.cl.Control.RemoveService(ctx, &minswv1.RemoveServiceRequest{Ref: id})
	return err
}

func (a clusterAPI) CreateSecret(ctx context.Context, f stack.File) (string, error) {
	r, err := a.cl.Control.CreateSecret(ctx, &minswv1.CreateSecretRequest{Spec: &minswv1.SecretSpec{Name: f.Name, Labels: f.Labels, Data: f.Data}})
	return r.GetSecret().GetId(), err
}

func (a clusterAPI) RemoveSecret(ctx context.Context, id string) error {
	_, err := a.cl.Control.RemoveSecret(ctx, &minswv1.RemoveSecretRequest{Ref: id})
	return err
}

func (a clusterAPI) CreateConfig(ctx context.Context, f stack.File) (string, error) {
	r, err := a.cl.Control.CreateConfig(ctx, &minswv1.CreateConfigRequest{Spec: &minswv1.ConfigSpec{Name: f.Name, Labels: f.Labels, Data: f.Data}})
	return r.GetConfig().GetId(), err
}

func (a clusterAPI) RemoveConfig(ctx context.Context, id string) error {
	_, err := a.cl.Control.RemoveConfig(ctx, &minswv1.RemoveConfigRequest{Ref: id})
	return err
}

// current reads what the cluster holds, as the plan needs it.
func (a clusterAPI) current(ctx context.Context) (stack.Current, []*minswv1.Service, error) {
	var cur stack.Current
	nets, err := a.cl.Control.ListNetworks(ctx, &minswv1.ListNetworksRequest{})
	if err != nil {
		return cur, nil, err
	}
	for _, n := range nets.GetNetworks() {
		cur.Networks = append(cur.Networks, stack.Object{ID: n.GetId(), Name: n.GetSpec().GetName(), Labels: n.GetSpec().GetLabels(), Version: n.GetMeta().GetVersion()})
	}
	secrets, err := a.cl.Control.ListSecrets(ctx, &minswv1.ListSecretsRequest{})
	if err != nil {
		return cur, nil, err
	}
	for _, s := range secrets.GetSecrets() {
		cur.Secrets = append(cur.Secrets, stack.Object{ID: s.GetId(), Name: s.GetSpec().GetName(), Labels: s.GetSpec().GetLabels(), Version: s.GetMeta().GetVersion()})
	}
	configs, err := a.cl.Control.ListConfigs(ctx, &minswv1.ListConfigsRequest{})
	if err != nil {
		return cur, nil, err
	}
	for _, c := range configs.GetConfigs() {
		cur.Configs = append(cur.Configs, stack.Object{ID: c.GetId(), Name: c.GetSpec().GetName(), Labels: c.GetSpec().GetLabels(), Version: c.GetMeta().GetVersion()})
	}
	svcs, err := a.cl.Control.ListServices(ctx, &minswv1.ListServicesRequest{})
	if err != nil {
		return cur, nil, err
	}
	for _, s := range svcs.GetServices() {
		cur.Services = append(cur.Services, stack.Object{ID: s.GetId(), Name: s.GetSpec().GetName(), Labels: s.GetSpec().GetLabels(), Version: s.GetMeta().GetVersion()})
	}
	return cur, svcs.GetServices(), nil
}
