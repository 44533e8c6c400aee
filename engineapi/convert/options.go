package convert

import (
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/swarm"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// The container options, resources, log driver, placement preferences,
// job modes and endpoint mode of issue 15, each way.

// optionFields are their paths in docker's ServiceSpec (see serviceFields).
var optionFields = []string{
	"TaskTemplate.ContainerSpec.Groups",
	"TaskTemplate.ContainerSpec.Init",
	"TaskTemplate.ContainerSpec.ReadOnly",
	"TaskTemplate.ContainerSpec.TTY",
	"TaskTemplate.ContainerSpec.CapabilityAdd",
	"TaskTemplate.ContainerSpec.CapabilityDrop",
	"TaskTemplate.ContainerSpec.Sysctls",
	"TaskTemplate.ContainerSpec.Ulimits",
	"TaskTemplate.ContainerSpec.OomScoreAdj",
	"TaskTemplate.ContainerSpec.StopSignal",
	"TaskTemplate.ContainerSpec.DNSConfig",
	"TaskTemplate.ContainerSpec.Hosts",
	"TaskTemplate.Resources.Limits.NanoCPUs",
	"TaskTemplate.Resources.Limits.MemoryBytes",
	"TaskTemplate.Resources.Limits.Pids",
	"TaskTemplate.Resources.Reservations.NanoCPUs",
	"TaskTemplate.Resources.Reservations.MemoryBytes",
	"TaskTemplate.Resources.Reservations.GenericResources.DiscreteResourceSpec",
	"TaskTemplate.LogDriver",
	"TaskTemplate.Placement.Preferences",
	"TaskTemplate.Placement.MaxReplicas",
	"TaskTemplate.Placement.Platforms",
	"Mode.ReplicatedJob",
	"Mode.GlobalJob",
	"EndpointSpec.Mode",
}

func containerOptions(in *api.ContainerSpec, out *swarm.ContainerSpec) {
	out.Groups = in.GetGroups()
	if in.GetInit() {
		t := true
		out.Init = &t
	}
	out.ReadOnly = in.GetReadOnly()
	out.TTY = in.GetTty()
	out.CapabilityAdd = in.GetCapAdd()
	out.CapabilityDrop = in.GetCapDrop()
	out.Sysctls = copyMap(in.GetSysctls())
	for _, u := range in.GetUlimits() {
		out.Ulimits = append(out.Ulimits, &container.Ulimit{Name: u.GetName(), Soft: u.GetSoft(), Hard: u.GetHard()})
	}
	out.OomScoreAdj = in.GetOomScoreAdj()
	out.StopSignal = in.GetStopSignal()
	if d := in.GetDnsConfig(); d != nil {
		out.DNSConfig = &swarm.DNSConfig{Nameservers: d.GetNameservers(), Search: d.GetSearch(), Options: d.GetOptions()}
	}
	out.Hosts = in.GetHosts()
	// registry_auth is never shown (docker does not show it either).
}

func containerOptionsFrom(in *swarm.ContainerSpec, out *api.ContainerSpec) {
	out.Groups = in.Groups
	out.Init = in.Init != nil && *in.Init
	out.ReadOnly = in.ReadOnly
	out.Tty = in.TTY
	out.CapAdd = in.CapabilityAdd
	out.CapDrop = in.CapabilityDrop
	out.Sysctls = copyMap(in.Sysctls)
	for _, u := range in.Ulimits {
		if u != nil {
			out.Ulimits = append(out.Ulimits, &api.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
		}
	}
	out.OomScoreAdj = in.OomScoreAdj
	out.StopSignal = in.StopSignal
	if d := in.DNSConfig; d != nil && (len(d.Nameservers)+len(d.Search)+len(d.Options) > 0) {
		out.DnsConfig = &api.DNSConfig{Nameservers: d.Nameservers, Search: d.Search, Options: d.Options}
	}
	out.Hosts = in.Hosts
}

func resources(r *api.Resources) *swarm.Resources {
	if r == nil {
		return nil
	}
	out := &swarm.Resources{NanoCPUs: r.GetNanoCpus(), MemoryBytes: r.GetMemoryBytes()}
	for _, g := range r.GetGeneric() {
		out.GenericResources = append(out.GenericResources, swarm.GenericResource{DiscreteResourceSpec: &swarm.DiscreteGenericResource{Kind: g.GetKind(), Value: g.GetValue()}})
	}
	return out
}

func taskOptions(in *api.TaskSpec, out *swarm.TaskSpec) {
	if r := in.GetResources(); r != nil {
		out.Resources = &swarm.ResourceRequirements{Reservations: resources(r.GetReservations())}
		if l := r.GetLimits(); l != nil {
			out.Resources.Limits = &swarm.Limit{NanoCPUs: l.GetNanoCpus(), MemoryBytes: l.GetMemoryBytes(), Pids: l.GetPids()}
		}
	}
	if l := in.GetLogDriver(); l != nil {
		out.LogDriver = &swarm.Driver{Name: l.GetName(), Options: copyMap(l.GetOptions())}
	}
	if p := in.GetPlacement(); p != nil {
		if out.Placement == nil {
			out.Placement = &swarm.Placement{}
		}
		for _, pref := range p.GetPreferences() {
			out.Placement.Preferences = append(out.Placement.Preferences, swarm.PlacementPreference{Spread: &swarm.SpreadOver{SpreadDescriptor: pref.GetSpreadDescriptor()}})
		}
		out.Placement.MaxReplicas = p.GetMaxReplicas()
		for _, pl := range p.GetPlatforms() {
			out.Placement.Platforms = append(out.Placement.Platforms, swarm.Platform{OS: pl.GetOs(), Architecture: pl.GetArchitecture()})
		}
	}
}

func taskOptionsFrom(in swarm.TaskSpec, out *api.TaskSpec) error {
	if r := in.Resources; r != nil {
		rr := &api.ResourceRequirements{}
		if l := r.Limits; l != nil && (l.NanoCPUs != 0 || l.MemoryBytes != 0 || l.Pids != 0) {
			rr.Limits = &api.Resources{NanoCpus: l.NanoCPUs, MemoryBytes: l.MemoryBytes, Pids: l.Pids}
		}
		if v := r.Reservations; v != nil && (v.NanoCPUs != 0 || v.MemoryBytes != 0 || len(v.GenericResources) > 0) {
			rr.Reservations = &api.Resources{NanoCpus: v.NanoCPUs, MemoryBytes: v.MemoryBytes}
			for _, g := range v.GenericResources {
				if g.DiscreteResourceSpec == nil {
					continue
				}
				rr.Reservations.Generic = append(rr.Reservations.Generic, &api.GenericResource{Kind: g.DiscreteResourceSpec.Kind, Value: g.DiscreteResourceSpec.Value})
			}
		}
		if rr.Limits != nil || rr.Reservations != nil {
			out.Resources = rr
		}
	}
	if l := in.LogDriver; l != nil && l.Name != "" {
		out.LogDriver = &api.LogDriver{Name: l.Name, Options: copyMap(l.Options)}
	}
	if p := in.Placement; p != nil && (len(p.Preferences) > 0 || p.MaxReplicas > 0 || len(p.Platforms) > 0) {
		if out.Placement == nil {
			out.Placement = &api.Placement{}
		}
		for _, pref := range p.Preferences {
			if pref.Spread == nil {
				return invalid("invalid placement preference: only spread is supported")
			}
			out.Placement.Preferences = append(out.Placement.Preferences, &api.PlacementPreference{SpreadDescriptor: pref.Spread.SpreadDescriptor})
		}
		out.Placement.MaxReplicas = p.MaxReplicas
		for _, pl := range p.Platforms {
			out.Placement.Platforms = append(out.Placement.Platforms, &api.Platform{Os: pl.OS, Architecture: pl.Architecture})
		}
	}
	return nil
}

func serviceOptions(in *api.ServiceSpec, out *swarm.ServiceSpec) {
	switch m := in.GetMode().(type) {
	case *api.ServiceSpec_ReplicatedJob:
		mc, tc := m.ReplicatedJob.GetMaxConcurrent(), m.ReplicatedJob.GetTotalCompletions()
		out.Mode = swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{MaxConcurrent: &mc, TotalCompletions: &tc}}
	case *api.ServiceSpec_GlobalJob:
		out.Mode = swarm.ServiceMode{GlobalJob: &swarm.GlobalJob{}}
	}
	if in.GetEndpoint().GetMode() == api.EndpointMode_ENDPOINT_MODE_DNSRR && out.EndpointSpec != nil {
		out.EndpointSpec.Mode = swarm.ResolutionModeDNSRR
	}
}

func serviceOptionsFrom(in swarm.ServiceSpec, out *api.ServiceSpec) error {
	switch {
	case in.Mode.ReplicatedJob != nil:
		j := &api.ReplicatedJob{MaxConcurrent: 1, TotalCompletions: 1}
		if v := in.Mode.ReplicatedJob.MaxConcurrent; v != nil {
			j.MaxConcurrent = *v
		}
		if v := in.Mode.ReplicatedJob.TotalCompletions; v != nil {
			j.TotalCompletions = *v
		}
		out.Mode = &api.ServiceSpec_ReplicatedJob{ReplicatedJob: j}
	case in.Mode.GlobalJob != nil:
		out.Mode = &api.ServiceSpec_GlobalJob{GlobalJob: &api.GlobalJob{}}
	}
	if ep := in.EndpointSpec; ep != nil {
		switch ep.Mode {
		case swarm.ResolutionModeVIP, "":
		case swarm.ResolutionModeDNSRR:
			if out.Endpoint == nil {
				out.Endpoint = &api.EndpointSpec{}
			}
			out.Endpoint.Mode = api.EndpointMode_ENDPOINT_MODE_DNSRR
		default:
			return invalid("invalid endpoint mode %q: use vip or dnsrr", ep.Mode)
		}
	}
	return nil
}

// nodeResources fills what a node offers from its description.
func nodeResources(in *api.NodeDescription, out *swarm.NodeDescription) {
	if r := resources(in.GetResources()); r != nil {
		out.Resources = *r
	}
	out.Engine.Labels = copyMap(in.GetEngineLabels())
}

func isJob(s *api.ServiceSpec) bool {
	return s.GetReplicatedJob() != nil || s.GetGlobalJob() != nil
}

// jobStatus is a job service's iteration: minsw reruns a job on each spec
// change, so the spec version numbers its iterations.
func jobStatus(s *api.Service) *swarm.JobStatus {
	if !isJob(s.GetSpec()) {
		return nil
	}
	return &swarm.JobStatus{JobIteration: swarm.Version{Index: s.GetSpecVersion()}, LastExecution: ts(s.GetMeta().GetUpdatedAt())}
}

// SetJobIteration marks t, a task of svc, with its job iteration when svc
// is a job (the docker CLI's job progress counts tasks by it).
func SetJobIteration(t *swarm.Task, task *api.Task, svc *api.Service) {
	if isJob(svc.GetSpec()) {
		t.JobIteration = &swarm.Version{Index: task.GetSpecVersion()}
	}
}
