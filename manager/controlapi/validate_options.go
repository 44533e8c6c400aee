package controlapi

import (
	"encoding/base64"
	"errors"
	"regexp"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/containeropts"
	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/scheduler"
)

// minMemoryLimit is docker's smallest --limit-memory.
const minMemoryLimit = 6 << 20

// validateTaskOptions checks the options of docker service create beyond
// the basics: modes, resources, placement preferences, endpoint mode and
// the container's options, each refused in the user's words.
func validateTaskOptions(spec *api.ServiceSpec) error {
	if j := spec.GetReplicatedJob(); j != nil {
		if j.GetTotalCompletions() > maxReplicas {
			return errdefs.InvalidArgument("invalid replicas %d: at most %d", j.GetTotalCompletions(), maxReplicas)
		}
		if j.GetMaxConcurrent() == 0 {
			return errdefs.InvalidArgument("invalid max-concurrent 0: a job runs at least one task at a time")
		}
	}
	ts := spec.GetTask()
	ct := ts.GetContainer()
	for _, c := range append(append([]string{}, ct.GetCapAdd()...), ct.GetCapDrop()...) {
		if _, err := containeropts.Capability(c); err != nil {
			return errdefs.InvalidArgument("%v (want a Linux capability such as NET_ADMIN, or ALL)", err)
		}
	}
	for k, v := range ct.GetSysctls() {
		if err := containeropts.Sysctl(k, v); err != nil {
			return errdefs.InvalidArgument("%v", err)
		}
	}
	for _, u := range ct.GetUlimits() {
		s := u.GetName() + "=" + strconv.FormatInt(u.GetSoft(), 10) + ":" + strconv.FormatInt(u.GetHard(), 10)
		if _, _, _, err := containeropts.Ulimit(s); err != nil {
			return errdefs.InvalidArgument("%v", err)
		}
	}
	if a := ct.GetOomScoreAdj(); a < -1000 || a > 1000 {
		return errdefs.InvalidArgument("invalid oom-score-adj %d: must be between -1000 and 1000", a)
	}
	if s := ct.GetStopSignal(); s != "" {
		if _, err := containeropts.Signal(s); err != nil {
			return errdefs.InvalidArgument("invalid stop-signal: %v", err)
		}
	}
	if err := containeropts.CheckTemplate("hostname", ct.GetHostname()); err != nil {
		return errdefs.InvalidArgument("%v", err)
	}
	for _, e := range ct.GetEnv() {
		if err := containeropts.CheckTemplate("environment variable", e); err != nil {
			return errdefs.InvalidArgument("%v", err)
		}
	}
	for _, v := range ct.GetLabels() {
		if err := containeropts.CheckTemplate("container label", v); err != nil {
			return errdefs.InvalidArgument("%v", err)
		}
	}
	if a := ct.GetRegistryAuth(); a != "" {
		if _, err := base64.URLEncoding.DecodeString(a); err != nil {
			return errdefs.InvalidArgument("invalid registry auth: not base64url")
		}
	}
	if err := validateResources("limit", ts.GetResources().GetLimits()); err != nil {
		return err
	}
	if err := validateResources("reserve", ts.GetResources().GetReservations()); err != nil {
		return err
	}
	if m := ts.GetResources().GetLimits().GetMemoryBytes(); m != 0 && m < minMemoryLimit {
		return errdefs.InvalidArgument("invalid limit-memory %s: the minimum memory limit is 6MiB", containeropts.FormatBytes(m))
	}
	if err := validateLogDriver(ts.GetLogDriver()); err != nil {
		return err
	}
	if _, err := scheduler.ParsePreferences(ts.GetPlacement().GetPreferences()); err != nil {
		if errors.Is(err, scheduler.ErrInvalidConstraint) {
			return errdefs.InvalidArgument("%v", err)
		}
		return err
	}
	if ts.GetPlacement().GetMaxReplicas() > 0 && spec.GetReplicated() == nil && spec.GetReplicatedJob() == nil {
		return errdefs.InvalidArgument("replicas-max-per-node can only be used with replicated or replicated-job mode")
	}
	if spec.GetEndpoint().GetMode() == api.EndpointMode_ENDPOINT_MODE_DNSRR {
		for _, p := range spec.GetEndpoint().GetPorts() {
			if p.GetPublishMode() == api.PublishMode_PUBLISH_MODE_INGRESS {
				return errdefs.InvalidArgument("port %d is published with ingress mode, which can't be used with dnsrr mode: publish it with mode=host", p.GetTargetPort())
			}
		}
	}
	return nil
}

func validateResources(what string, r *api.Resources) error {
	if r.GetNanoCpus() < 0 {
		return errdefs.InvalidArgument("invalid %s-cpu: must not be negative", what)
	}
	if r.GetMemoryBytes() < 0 {
		return errdefs.InvalidArgument("invalid %s-memory: must not be negative", what)
	}
	if r.GetPids() < 0 {
		return errdefs.InvalidArgument("invalid %s-pids: must not be negative", what)
	}
	for _, g := range r.GetGeneric() {
		if g.GetKind() == "" || g.GetValue() <= 0 {
			return errdefs.InvalidArgument("invalid generic resource %s=%d: want KIND=COUNT with a positive count", g.GetKind(), g.GetValue())
		}
	}
	return nil
}

func validateLogDriver(d *api.LogDriver) error {
	switch d.GetName() {
	case "", "json-file", "local", "none":
	default:
		return errdefs.InvalidArgument("log driver %q is not supported: use json-file, local or none", d.GetName())
	}
	for k, v := range d.GetOptions() {
		switch k {
		case "max-size":
			if n, err := containeropts.Bytes(v); err != nil || n <= 0 {
				return errdefs.InvalidArgument("invalid log-opt max-size=%s: want a positive size such as 10m", v)
			}
		case "max-file":
			if n, err := strconv.Atoi(v); err != nil || n < 1 {
				return errdefs.InvalidArgument("invalid log-opt max-file=%s: want a positive number of files", v)
			}
		case "compress", "mode", "max-buffer-size":
			// accepted by docker's drivers; minsw keeps plain files.
		case "labels", "env":
			// names of the container labels / env vars whose values the
			// log's lines carry as attributes (logs --details).
		case "labels-regex", "env-regex":
			if _, err := regexp.Compile(v); err != nil {
				return errdefs.InvalidArgument("invalid log-opt %s=%s: not a regular expression", k, v)
			}
		default:
			return errdefs.InvalidArgument("unknown log-opt %q for log driver %s (minsw's take max-size, max-file, labels, labels-regex, env and env-regex)", k, d.GetName())
		}
	}
	return nil
}

// checkReservationsFit refuses a reservation no node could ever hold (when
// nodes report their resources), so it does not sit pending forever.
func checkReservationsFit(tx store.ReadTx, spec *api.ServiceSpec) error {
	r := spec.GetTask().GetResources().GetReservations()
	if r.GetNanoCpus() == 0 && r.GetMemoryBytes() == 0 {
		return nil
	}
	var maxCPU, maxMem int64
	reported := false
	for _, n := range tx.Nodes() {
		res := n.GetDescription().GetResources()
		if res.GetNanoCpus() == 0 && res.GetMemoryBytes() == 0 {
			continue
		}
		reported = true
		maxCPU = max(maxCPU, res.GetNanoCpus())
		maxMem = max(maxMem, res.GetMemoryBytes())
		if r.GetNanoCpus() <= res.GetNanoCpus() && r.GetMemoryBytes() <= res.GetMemoryBytes() {
			return nil
		}
	}
	if !reported {
		return nil
	}
	if r.GetNanoCpus() > maxCPU {
		return errdefs.InvalidArgument("reservation of %s CPUs is larger than any node's (the largest has %s)",
			containeropts.FormatNanoCPUs(r.GetNanoCpus()), containeropts.FormatNanoCPUs(maxCPU))
	}
	if r.GetMemoryBytes() > maxMem {
		return errdefs.InvalidArgument("reservation of %s of memory is larger than any node's (the largest has %s)",
			containeropts.FormatBytes(r.GetMemoryBytes()), containeropts.FormatBytes(maxMem))
	}
	return errdefs.InvalidArgument("no node has both %s CPUs and %s of memory to reserve",
		containeropts.FormatNanoCPUs(r.GetNanoCpus()), containeropts.FormatBytes(r.GetMemoryBytes()))
}

// redactService drops the registry credentials from an answer: they are
// for the pulling node only.
func redactService(s *api.Service) *api.Service {
	if s.GetSpec().GetTask().GetContainer().GetRegistryAuth() == "" && s.GetPreviousSpec().GetTask().GetContainer().GetRegistryAuth() == "" {
		return s
	}
	c := cloneService(s)
	if ct := c.GetSpec().GetTask().GetContainer(); ct != nil {
		ct.RegistryAuth = ""
	}
	if ct := c.GetPreviousSpec().GetTask().GetContainer(); ct != nil {
		ct.RegistryAuth = ""
	}
	return c
}

func redactTask(t *api.Task) *api.Task {
	if t.GetSpec().GetContainer().GetRegistryAuth() == "" {
		return t
	}
	c := cloneTask(t)
	c.Spec.Container.RegistryAuth = ""
	return c
}

func redactTasks(ts []*api.Task) []*api.Task {
	for i, t := range ts {
		ts[i] = redactTask(t)
	}
	return ts
}

func redactServices(ss []*api.Service) []*api.Service {
	for i, s := range ss {
		ss[i] = redactService(s)
	}
	return ss
}

func cloneService(s *api.Service) *api.Service { return proto.Clone(s).(*api.Service) }
func cloneTask(t *api.Task) *api.Task          { return proto.Clone(t).(*api.Task) }

// modeKind names a spec's mode, for refusing a change of mode.
func modeKind(s *api.ServiceSpec) string {
	switch s.GetMode().(type) {
	case *api.ServiceSpec_Global:
		return "global"
	case *api.ServiceSpec_ReplicatedJob:
		return "replicated-job"
	case *api.ServiceSpec_GlobalJob:
		return "global-job"
	}
	return "replicated"
}
