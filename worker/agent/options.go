package agent

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/minsw/minsw/internal/containeropts"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/executor"
)

// WithTaskOptions completes the spec BuildSpec made with the rest of the
// task's container options (user, capabilities, limits, DNS, ...) and
// expands the Go templates docker allows in the hostname, the environment
// and the container labels ({{.Service.Name}}-{{.Task.Slot}},
// {{.Node.Hostname}}). A template that does not expand fails the task.
func WithTaskOptions(s executor.Spec, t *api.Task, nodeID string, desc *api.NodeDescription) (executor.Spec, error) {
	c := t.GetSpec().GetContainer()
	lim := t.GetSpec().GetResources().GetLimits()
	o := executor.Options{
		Dir:         c.GetDir(),
		User:        c.GetUser(),
		Groups:      slices.Clone(c.GetGroups()),
		Init:        c.GetInit(),
		ReadOnly:    c.GetReadOnly(),
		TTY:         c.GetTty(),
		CapAdd:      slices.Clone(c.GetCapAdd()),
		CapDrop:     slices.Clone(c.GetCapDrop()),
		Sysctls:     maps.Clone(c.GetSysctls()),
		OOMScoreAdj: int(c.GetOomScoreAdj()),
		StopSignal:  c.GetStopSignal(),
		NanoCPUs:    lim.GetNanoCpus(),
		MemoryBytes: lim.GetMemoryBytes(),
		Pids:        lim.GetPids(),
		LogDriver:   t.GetSpec().GetLogDriver().GetName(),
		LogOpts:     maps.Clone(t.GetSpec().GetLogDriver().GetOptions()),
	}
	for _, u := range c.GetUlimits() {
		o.Ulimits = append(o.Ulimits, executor.Ulimit{Name: u.GetName(), Soft: u.GetSoft(), Hard: u.GetHard()})
	}
	s.Options = o

	// Docker's resolv.conf for a swarm task: the embedded resolver, the
	// user's search domains and options, and ndots:0 unless the user set
	// ndots. Off the overlays the user's nameservers are used directly.
	dns := c.GetDnsConfig()
	if len(s.DNS) == 0 && len(dns.GetNameservers()) > 0 {
		s.DNS = slices.Clone(dns.GetNameservers())
	}
	s.DNSSearch = append(s.DNSSearch, dns.GetSearch()...)
	s.DNSOpts = append(s.DNSOpts, dns.GetOptions()...)
	if len(s.DNS) > 0 && s.DNS[0] == embeddedDNS && !slices.ContainsFunc(s.DNSOpts, func(o string) bool { return strings.HasPrefix(o, "ndots:") }) {
		s.DNSOpts = append(s.DNSOpts, "ndots:0")
	}
	for _, h := range c.GetHosts() {
		s.Hosts = append(s.Hosts, h)
	}

	ctx := templateContext(t, nodeID, desc)
	var err error
	if s.Hostname, err = expand("hostname", c.GetHostname(), s.Hostname, ctx); err != nil {
		return s, err
	}
	for i, e := range s.Env {
		if s.Env[i], err = expand("environment variable", e, e, ctx); err != nil {
			return s, err
		}
	}
	for k := range c.GetLabels() {
		if s.Labels[k], err = expand("container label", s.Labels[k], s.Labels[k], ctx); err != nil {
			return s, err
		}
	}
	return s, nil
}

// expand fills the template in value; an empty template keeps dflt.
func expand(what, value, dflt string, ctx containeropts.TemplateContext) (string, error) {
	if value == "" {
		return dflt, nil
	}
	out, err := containeropts.Expand(value, ctx)
	if err != nil {
		return "", fmt.Errorf("expanding the %s template %q: %w", what, value, err)
	}
	return out, nil
}

func templateContext(t *api.Task, nodeID string, desc *api.NodeDescription) containeropts.TemplateContext {
	var ctx containeropts.TemplateContext
	ctx.Service.ID = t.GetServiceId()
	ctx.Service.Name = t.GetServiceName()
	ctx.Service.Labels = map[string]string{}
	ctx.Node.ID = nodeID
	ctx.Node.Hostname = desc.GetHostname()
	ctx.Node.Platform.OS = desc.GetOs()
	ctx.Node.Platform.Architecture = desc.GetArchitecture()
	ctx.Task.ID = t.GetId()
	ctx.Task.Name = TaskName(t)
	ctx.Task.Slot = strconv.FormatUint(t.GetSlot(), 10)
	if t.GetSlot() == 0 {
		ctx.Task.Slot = nodeID
	}
	return ctx
}

// authPuller is an executor that can pull with the credentials a task
// carries (--with-registry-auth).
type authPuller interface {
	PullWithAuth(ctx context.Context, image, auth string) error
}

// pullImage pulls the task's image, with its registry credentials when it
// has some and the executor takes them.
func pullImage(ctx context.Context, ex executor.Executor, t *api.Task) error {
	c := t.GetSpec().GetContainer()
	if ap, ok := ex.(authPuller); ok && c.GetRegistryAuth() != "" {
		return ap.PullWithAuth(ctx, c.GetImage(), c.GetRegistryAuth())
	}
	return ex.Pull(ctx, c.GetImage())
}
