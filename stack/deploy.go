package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"golang.org/x/sync/errgroup"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/minsw/minsw/internal/errdefs"
)

// Object is what a plan needs to know of an object the cluster holds.
type Object struct {
	ID      string
	Name    string
	Labels  map[string]string
	Version uint64
}

// Current is what the cluster holds now: every network, secret and config
// (external ones are looked up among them) and the services.
type Current struct {
	Networks []Object
	Secrets  []Object
	Configs  []Object
	Services []Object
}

// ServiceUpdate replaces an existing service's spec, at the version read.
type ServiceUpdate struct {
	ID      string
	Version uint64
	Spec    swarm.ServiceSpec
}

// Plan is a deploy, in the order it is applied: networks, secrets and
// configs first (services refer to them), then services, then pruning.
type Plan struct {
	Namespace      string
	CreateNetworks []Network
	CreateSecrets  []File
	CreateConfigs  []File
	CreateServices []swarm.ServiceSpec
	UpdateServices []ServiceUpdate
	RemoveServices []Object
	// IDs of the objects that already exist, by name, for the services'
	// references.
	SecretIDs map[string]string
	ConfigIDs map[string]string
}

func byName(objs []Object) map[string]Object {
	m := make(map[string]Object, len(objs))
	for _, o := range objs {
		m[o.Name] = o
	}
	return m
}

// PlanDeploy compares the stack with the cluster. It fails, before anything
// is made, when an external network, secret or config does not exist or when
// a name the stack would create is held by an object of another stack.
func PlanDeploy(st *Stack, cur Current, prune bool) (*Plan, error) {
	p := &Plan{Namespace: st.Namespace, SecretIDs: map[string]string{}, ConfigIDs: map[string]string{}}
	nets := byName(cur.Networks)
	for _, n := range st.Networks {
		have, ok := nets[n.Name]
		switch {
		case n.External && !ok:
			return nil, errdefs.NotFound("network %q is declared as external, but could not be found. You need to create a swarm-scoped network before the stack is deployed", n.Name)
		case n.External:
		case ok && have.Labels[NamespaceLabel] != st.Namespace:
			return nil, errdefs.AlreadyExists("network %q already exists and is not part of stack %q", n.Name, st.Namespace)
		case !ok:
			p.CreateNetworks = append(p.CreateNetworks, n)
		}
	}
	var err error
	if p.CreateSecrets, err = planFiles("secret", st.Namespace, st.Secrets, byName(cur.Secrets), p.SecretIDs); err != nil {
		return nil, err
	}
	if p.CreateConfigs, err = planFiles("config", st.Namespace, st.Configs, byName(cur.Configs), p.ConfigIDs); err != nil {
		return nil, err
	}

	services := byName(cur.Services)
	wanted := map[string]bool{}
	for _, spec := range st.Services {
		wanted[spec.Name] = true
		have, ok := services[spec.Name]
		switch {
		case !ok:
			p.CreateServices = append(p.CreateServices, spec)
		case have.Labels[NamespaceLabel] != st.Namespace:
			return nil, errdefs.AlreadyExists("service %q already exists and is not part of stack %q", spec.Name, st.Namespace)
		default:
			p.UpdateServices = append(p.UpdateServices, ServiceUpdate{ID: have.ID, Version: have.Version, Spec: spec})
		}
	}
	if prune {
		for _, s := range cur.Services {
			if s.Labels[NamespaceLabel] == st.Namespace && !wanted[s.Name] {
				p.RemoveServices = append(p.RemoveServices, s)
			}
		}
		sort.Slice(p.RemoveServices, func(i, j int) bool { return p.RemoveServices[i].Name < p.RemoveServices[j].Name })
	}
	return p, nil
}

// planFiles picks the secrets or configs to create and records the IDs of
// those that exist. Their data is immutable, as under Swarm: one that exists
// is used as it is.
func planFiles(what, ns string, files []File, have map[string]Object, ids map[string]string) ([]File, error) {
	var create []File
	for _, f := range files {
		o, ok := have[f.Name]
		switch {
		case f.External && !ok:
			return nil, errdefs.NotFound("%s %q is declared as external, but could not be found. You need to create it before the stack is deployed", what, f.Name)
		case ok && !f.External && o.Labels[NamespaceLabel] != ns:
			return nil, errdefs.AlreadyExists("%s %q already exists and is not part of stack %q", what, f.Name, ns)
		case ok:
			ids[f.Name] = o.ID
		default:
			create = append(create, f)
		}
	}
	return create, nil
}

// Cluster is what applying a plan needs of the cluster, in docker's types.
// The CLI implements it over its daemon connection; tests with a fake.
type Cluster interface {
	CreateNetwork(ctx context.Context, name string, opts network.CreateOptions) (id string, err error)
	RemoveNetwork(ctx context.Context, id string) error
	CreateSecret(ctx context.Context, f File) (id string, err error)
	RemoveSecret(ctx context.Context, id string) error
	CreateConfig(ctx context.Context, f File) (id string, err error)
	RemoveConfig(ctx context.Context, id string) error
	CreateService(ctx context.Context, spec swarm.ServiceSpec) (id string, err error)
	UpdateService(ctx context.Context, id string, version uint64, spec swarm.ServiceSpec) error
	// RemoveService takes the service's ID or name.
	RemoveService(ctx context.Context, ref string) error
}

// serviceConcurrency bounds the service writes a deploy has in flight.
const serviceConcurrency = 8

// Apply carries the plan out, printing docker's lines to out. If a step
// fails, what this run created is removed again (newest first), so a
// failed deploy leaves no half-made stack; updates already applied stay.
func Apply(ctx context.Context, c Cluster, p *Plan, out io.Writer) (err error) {
	var undo []func(context.Context) error
	defer func() {
		if err == nil {
			return
		}
		cleanup := context.WithoutCancel(ctx)
		for i := len(undo) - 1; i >= 0; i-- {
			if uerr := undo[i](cleanup); uerr != nil {
				err = errors.Join(err, stepError(uerr, "while undoing the failed deploy"))
			}
		}
	}()

	for _, n := range p.CreateNetworks {
		fmt.Fprintf(out, "Creating network %s\n", n.Name)
		id, err := c.CreateNetwork(ctx, n.Name, n.Create)
		if err != nil {
			return stepError(err, "failed to create network %s", n.Name)
		}
		undo = append(undo, func(ctx context.Context) error { return c.RemoveNetwork(ctx, id) })
	}
	for _, f := range p.CreateSecrets {
		fmt.Fprintf(out, "Creating secret %s\n", f.Name)
		id, err := c.CreateSecret(ctx, f)
		if err != nil {
			return stepError(err, "failed to create secret %s", f.Name)
		}
		p.SecretIDs[f.Name] = id
		undo = append(undo, func(ctx context.Context) error { return c.RemoveSecret(ctx, id) })
	}
	for _, f := range p.CreateConfigs {
		fmt.Fprintf(out, "Creating config %s\n", f.Name)
		id, err := c.CreateConfig(ctx, f)
		if err != nil {
			return stepError(err, "failed to create config %s", f.Name)
		}
		p.ConfigIDs[f.Name] = id
		undo = append(undo, func(ctx context.Context) error { return c.RemoveConfig(ctx, id) })
	}
	// Services do not depend on one another: they are created and updated
	// concurrently (a few raft round trips at a time instead of one after
	// another), with the lines printed first, in order.
	for _, u := range p.UpdateServices {
		fmt.Fprintf(out, "Updating service %s (id: %s)\n", u.Spec.Name, u.ID)
	}
	for _, spec := range p.CreateServices {
		fmt.Fprintf(out, "Creating service %s\n", spec.Name)
	}
	// A failed write does not cancel the others: one whose outcome was
	// cut short could still commit, unseen by the undo. Every service this
	// run tried to create is undone by name (the plan saw none of them
	// before), so one created with an unknown outcome goes too.
	var g errgroup.Group
	g.SetLimit(serviceConcurrency)
	for _, u := range p.UpdateServices {
		spec := p.withRefIDs(u.Spec)
		g.Go(func() error {
			if err := c.UpdateService(ctx, u.ID, u.Version, spec); err != nil {
				return stepError(err, "failed to update service %s", u.Spec.Name)
			}
			return nil
		})
	}
	for _, spec := range p.CreateServices {
		undo = append(undo, func(ctx context.Context) error {
			if err := c.RemoveService(ctx, spec.Name); err != nil && !errdefs.Is(err, errdefs.KindNotFound) {
				return err
			}
			return nil
		})
		g.Go(func() error {
			if _, err := c.CreateService(ctx, p.withRefIDs(spec)); err != nil {
				return stepError(err, "failed to create service %s", spec.Name)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, s := range p.RemoveServices {
		fmt.Fprintf(out, "Removing service %s\n", s.Name)
		if err := c.RemoveService(ctx, s.ID); err != nil {
			return stepError(err, "failed to remove service %s", s.Name)
		}
	}
	return nil
}

// withRefIDs fills the IDs of the secrets and configs a spec refers to by
// name (a copy: the plan's spec is left as converted).
func (p *Plan) withRefIDs(spec swarm.ServiceSpec) swarm.ServiceSpec {
	cs := spec.TaskTemplate.ContainerSpec
	if cs == nil || (len(cs.Secrets) == 0 && len(cs.Configs) == 0) {
		return spec
	}
	c := *cs
	c.Secrets = nil
	for _, r := range cs.Secrets {
		rr := *r
		rr.SecretID = p.SecretIDs[r.SecretName]
		c.Secrets = append(c.Secrets, &rr)
	}
	c.Configs = nil
	for _, r := range cs.Configs {
		rr := *r
		rr.ConfigID = p.ConfigIDs[r.ConfigName]
		c.Configs = append(c.Configs, &rr)
	}
	spec.TaskTemplate.ContainerSpec = &c
	return spec
}

// StepError is a failed step of a deploy or removal: what was being done,
// and the cluster's answer, so the user learns which object failed.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return e.Step + ": " + e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

func stepError(err error, format string, a ...any) error {
	return &StepError{Step: fmt.Sprintf(format, a...), Err: err}
}

// Members are a stack's objects found among the cluster's, by its label.
type Members struct {
	Services, Networks, Secrets, Configs []Object
}

// Of picks the objects of stack ns from cur.
func Of(ns string, cur Current) Members {
	pick := func(objs []Object) []Object {
		var out []Object
		for _, o := range objs {
			if o.Labels[NamespaceLabel] == ns {
				out = append(out, o)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out
	}
	return Members{Services: pick(cur.Services), Networks: pick(cur.Networks), Secrets: pick(cur.Secrets), Configs: pick(cur.Configs)}
}

// Remove removes a stack's services, then its secrets, configs and
// networks (services hold them), printing docker's lines. It goes on past a
// failure and returns them all.
func Remove(ctx context.Context, c Cluster, m Members, out io.Writer) error {
	var errs []error
	step := func(kind string, objs []Object, rm func(context.Context, string) error) {
		for _, o := range objs {
			fmt.Fprintf(out, "Removing %s %s\n", kind, o.Name)
			if err := rm(ctx, o.ID); err != nil {
				errs = append(errs, stepError(err, "failed to remove %s %s", kind, o.Name))
			}
		}
	}
	step("service", m.Services, c.RemoveService)
	step("secret", m.Secrets, c.RemoveSecret)
	step("config", m.Configs, c.RemoveConfig)
	step("network", m.Networks, c.RemoveNetwork)
	return errors.Join(errs...)
}

// Names lists the stacks in cur with their service counts, sorted by name,
// as `stack ls` shows them.
func Names(cur Current) []Summary {
	counts := map[string]int{}
	for _, s := range cur.Services {
		if ns, ok := s.Labels[NamespaceLabel]; ok {
			counts[ns]++
		}
	}
	var out []Summary
	for ns, n := range counts {
		out = append(out, Summary{Name: ns, Services: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Summary is one row of `stack ls`.
type Summary struct {
	Name     string
	Services int
}
