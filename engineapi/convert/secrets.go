package convert

import (
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Secret is a minsw secret as docker shows it (never with its data).
func Secret(s *api.Secret) swarm.Secret {
	return swarm.Secret{ID: s.GetId(), Meta: meta(s.GetMeta()),
		Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: s.GetSpec().GetName(), Labels: labels(s.GetSpec().GetLabels())}}}
}

// SecretSpecFrom is the minsw spec of a docker secret create/update body.
func SecretSpecFrom(s swarm.SecretSpec) (*api.SecretSpec, error) {
	switch {
	case s.Driver != nil && s.Driver.Name != "":
		return nil, unsupported("Driver", "secret drivers")
	case s.Templating != nil && s.Templating.Name != "":
		return nil, unsupported("Templating", "secret templating")
	}
	return &api.SecretSpec{Name: s.Name, Labels: copyMap(s.Labels), Data: s.Data}, nil
}

// Config is a minsw config as docker shows it, data included.
func Config(c *api.Config) swarm.Config {
	return swarm.Config{ID: c.GetId(), Meta: meta(c.GetMeta()),
		Spec: swarm.ConfigSpec{Annotations: swarm.Annotations{Name: c.GetSpec().GetName(), Labels: labels(c.GetSpec().GetLabels())}, Data: c.GetSpec().GetData()}}
}

// ConfigSpecFrom is the minsw spec of a docker config create/update body.
func ConfigSpecFrom(c swarm.ConfigSpec) (*api.ConfigSpec, error) {
	if c.Templating != nil && c.Templating.Name != "" {
		return nil, unsupported("Templating", "config templating")
	}
	return &api.ConfigSpec{Name: c.Name, Labels: copyMap(c.Labels), Data: c.Data}, nil
}

// SecretFilterKeys are the keys GET /secrets and GET /configs accept.
var SecretFilterKeys = []string{"id", "label", "name", "names"}

// MatchNamed says whether a secret or config passes the filters: id and
// name are prefixes, names exact.
func MatchNamed(args filters.Args, id, name string, labels map[string]string) bool {
	return anyPrefix(args, "id", id) && anyPrefix(args, "name", name) && anyExact(args, "names", name) &&
		args.MatchKVList("label", labels)
}
