package stack

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	composetypes "github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/minsw/minsw/internal/errdefs"
)

// Network is one network of a stack: either to be created (Create set) or
// external, to be looked up by Name and never created or removed.
type Network struct {
	Name     string
	External bool
	Create   network.CreateOptions
}

// File is one secret or config of a stack: created from Data, or external
// (looked up by Name, never created or removed).
type File struct {
	Name     string
	External bool
	Labels   map[string]string
	Data     []byte
}

// Stack is everything a compose file asks of the cluster, as docker's types.
type Stack struct {
	Namespace string
	Networks  []Network // sorted by name
	Secrets   []File    // sorted by name
	Configs   []File    // sorted by name
	Services  []swarm.ServiceSpec
	// Unsupported names the keys set in the file that a swarm stack ignores,
	// for docker's "Ignoring unsupported options: ..." line.
	Unsupported []string
}

// Convert maps a loaded compose project onto the stack's objects, as docker's
// stack deploy maps them. readFile reads a secret's or config's file:
// (os.ReadFile in the CLI).
func Convert(p *composetypes.Project, readFile func(string) ([]byte, error)) (*Stack, error) {
	ns := p.Name
	st := &Stack{Namespace: ns}
	nsLabels := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range extra {
			out[k] = v
		}
		out[NamespaceLabel] = ns
		return out
	}

	for _, key := range sortedKeys(p.Networks) {
		n := p.Networks[key]
		if n.External {
			st.Networks = append(st.Networks, Network{Name: n.Name, External: true})
			continue
		}
		driver := n.Driver
		if driver == "" {
			driver = "overlay"
		}
		create := network.CreateOptions{
			Driver:     driver,
			Scope:      "swarm",
			Internal:   n.Internal,
			Attachable: n.Attachable,
			Options:    map[string]string(n.DriverOpts),
			Labels:     nsLabels(n.Labels),
		}
		if n.Ipam.Driver != "" || len(n.Ipam.Config) > 0 {
			ipam := &network.IPAM{Driver: n.Ipam.Driver}
			for _, c := range n.Ipam.Config {
				ipam.Config = append(ipam.Config, network.IPAMConfig{Subnet: c.Subnet, IPRange: c.IPRange, Gateway: c.Gateway})
			}
			create.IPAM = ipam
		}
		st.Networks = append(st.Networks, Network{Name: n.Name, Create: create})
	}

	var err error
	if st.Secrets, err = convertFiles(secretObjects(p.Secrets), "secret", nsLabels, readFile); err != nil {
		return nil, err
	}
	if st.Configs, err = convertFiles(configObjects(p.Configs), "config", nsLabels, readFile); err != nil {
		return nil, err
	}

	unsupported := map[string]bool{}
	for _, name := range p.ServiceNames() {
		svc := p.Services[name]
		for _, k := range unsupportedKeys(svc) {
			unsupported[k] = true
		}
		spec, err := convertService(p, ns, svc, nsLabels)
		if err != nil {
			return nil, errdefs.InvalidArgument("service %s: %w", name, err)
		}
		st.Services = append(st.Services, spec)
	}
	sort.Slice(st.Services, func(i, j int) bool { return st.Services[i].Name < st.Services[j].Name })
	for k := range unsupported {
		st.Unsupported = append(st.Unsupported, k)
	}
	sort.Strings(st.Unsupported)
	return st, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func secretObjects(m composetypes.Secrets) map[string]composetypes.FileObjectConfig {
	out := map[string]composetypes.FileObjectConfig{}
	for k, v := range m {
		out[k] = composetypes.FileObjectConfig(v)
	}
	return out
}

func configObjects(m composetypes.Configs) map[string]composetypes.FileObjectConfig {
	out := map[string]composetypes.FileObjectConfig{}
	for k, v := range m {
		out[k] = composetypes.FileObjectConfig(v)
	}
	return out
}

// convertFiles maps top-level secrets: or configs: (one shape for both).
func convertFiles(m map[string]composetypes.FileObjectConfig, what string, nsLabels func(map[string]string) map[string]string, readFile func(string) ([]byte, error)) ([]File, error) {
	var out []File
	for _, key := range sortedKeys(m) {
		f := m[key]
		if f.External {
			out = append(out, File{Name: f.Name, External: true})
			continue
		}
		if f.Driver != "" {
			return nil, errdefs.InvalidArgument("%s %s: driver %q is not supported by minsw", what, key, f.Driver)
		}
		if f.TemplateDriver != "" {
			return nil, errdefs.InvalidArgument("%s %s: template_driver %q is not supported by minsw", what, key, f.TemplateDriver)
		}
		var data []byte
		switch {
		case f.File != "":
			b, err := readFile(f.File)
			if err != nil {
				return nil, errdefs.InvalidArgument("%s %s: cannot read %s: %v", what, key, f.File, unwrapPathError(err))
			}
			data = b
		case f.Environment != "":
			v, ok := os.LookupEnv(f.Environment)
			if !ok {
				return nil, errdefs.InvalidArgument("%s %s: environment variable %s is not set", what, key, f.Environment)
			}
			data = []byte(v)
		case f.Content != "":
			data = []byte(f.Content)
		default:
			return nil, errdefs.InvalidArgument("%s %s: one of file, environment, content or external is required", what, key)
		}
		out = append(out, File{Name: f.Name, Labels: nsLabels(f.Labels), Data: data})
	}
	return out, nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// unsupportedKeys names the keys of svc that a swarm stack ignores, with
// compose's names.
func unsupportedKeys(svc composetypes.ServiceConfig) []string {
	var keys []string
	add := func(set bool, key string) {
		if set {
			keys = append(keys, key)
		}
	}
	add(svc.Build != nil, "build")
	add(svc.CgroupParent != "", "cgroup_parent")
	add(svc.Cgroup != "", "cgroup")
	add(svc.ContainerName != "", "container_name")
	add(len(svc.DependsOn) > 0, "depends_on")
	add(len(svc.Devices) > 0, "devices")
	add(svc.DomainName != "", "domainname")
	add(len(svc.ExternalLinks) > 0, "external_links")
	add(svc.Ipc != "", "ipc")
	add(len(svc.Links) > 0, "links")
	add(svc.MacAddress != "", "mac_address")
	add(svc.NetworkMode != "", "network_mode")
	add(svc.Pid != "", "pid")
	add(svc.Privileged, "privileged")
	add(svc.Restart != "", "restart")
	add(len(svc.SecurityOpt) > 0, "security_opt")
	add(svc.ShmSize != 0, "shm_size")
	add(svc.UserNSMode != "", "userns_mode")
	add(len(svc.Profiles) > 0, "profiles")
	add(svc.PullPolicy != "", "pull_policy")
	return keys
}

func convertService(p *composetypes.Project, ns string, svc composetypes.ServiceConfig, nsLabels func(map[string]string) map[string]string) (swarm.ServiceSpec, error) {
	name := ns + "_" + svc.Name
	var deploy composetypes.DeployConfig
	if svc.Deploy != nil {
		deploy = *svc.Deploy
	}
	serviceLabels := nsLabels(deploy.Labels)
	serviceLabels[ImageLabel] = svc.Image

	mounts, err := convertVolumes(p, ns, svc)
	if err != nil {
		return swarm.ServiceSpec{}, err
	}
	nets, err := convertServiceNetworks(p, svc)
	if err != nil {
		return swarm.ServiceSpec{}, err
	}
	secretNames, configNames := map[string]string{}, map[string]string{}
	for k, v := range p.Secrets {
		secretNames[k] = v.Name
	}
	for k, v := range p.Configs {
		configNames[k] = v.Name
	}
	var secretUses, configUses []composetypes.FileReferenceConfig
	for _, r := range svc.Secrets {
		secretUses = append(secretUses, composetypes.FileReferenceConfig(r))
	}
	for _, r := range svc.Configs {
		configUses = append(configUses, composetypes.FileReferenceConfig(r))
	}
	secrets, err := convertFileRefs(secretUses, secretNames, "secret")
	if err != nil {
		return swarm.ServiceSpec{}, err
	}
	// Sorted by name, the order docker's CLI sends them in (it reads them
	// back from the daemon's list).
	sort.Slice(secrets, func(i, j int) bool { return secrets[i].name < secrets[j].name })
	var secretRefs []*swarm.SecretReference
	for _, r := range secrets {
		secretRefs = append(secretRefs, &swarm.SecretReference{SecretName: r.name, File: r.file})
	}
	configs, err := convertFileRefs(configUses, configNames, "config")
	if err != nil {
		return swarm.ServiceSpec{}, err
	}
	sort.Slice(configs, func(i, j int) bool { return configs[i].name < configs[j].name })
	var configRefs []*swarm.ConfigReference
	for _, r := range configs {
		configRefs = append(configRefs, &swarm.ConfigReference{ConfigName: r.name, File: &swarm.ConfigReferenceFileTarget{
			Name: r.file.Name, UID: r.file.UID, GID: r.file.GID, Mode: r.file.Mode,
		}})
	}

	cs := &swarm.ContainerSpec{
		Image:           svc.Image,
		Command:         []string(svc.Entrypoint),
		Args:            []string(svc.Command),
		Hostname:        svc.Hostname,
		Env:             envList(svc.Environment),
		Dir:             svc.WorkingDir,
		User:            svc.User,
		Labels:          nsLabels(svc.Labels),
		Mounts:          mounts,
		StopGracePeriod: durationPtr(svc.StopGracePeriod),
		StopSignal:      svc.StopSignal,
		TTY:             svc.Tty,
		OpenStdin:       svc.StdinOpen,
		ReadOnly:        svc.ReadOnly,
		Init:            svc.Init,
		Secrets:         secretRefs,
		Configs:         configRefs,
		Healthcheck:     convertHealthcheck(svc.HealthCheck),
		Hosts:           convertExtraHosts(svc.ExtraHosts),
		Sysctls:         map[string]string(svc.Sysctls),
		CapabilityAdd:   capabilities(svc.CapAdd),
		CapabilityDrop:  capabilities(svc.CapDrop),
		Ulimits:         convertUlimits(svc.Ulimits),
		OomScoreAdj:     svc.OomScoreAdj,
		Groups:          svc.GroupAdd,
		Isolation:       container.Isolation(svc.Isolation),
	}
	if len(svc.DNS) > 0 || len(svc.DNSSearch) > 0 || len(svc.DNSOpts) > 0 {
		cs.DNSConfig = &swarm.DNSConfig{Nameservers: svc.DNS, Search: svc.DNSSearch, Options: svc.DNSOpts}
	}

	restart, err := convertRestartPolicy(svc.Restart, deploy.RestartPolicy)
	if err != nil {
		return swarm.ServiceSpec{}, err
	}
	mode, err := convertMode(deploy.Mode, deploy.Replicas)
	if err != nil {
		return swarm.ServiceSpec{}, err
	}
	endpoint, err := convertEndpoint(deploy.EndpointMode, svc.Ports)
	if err != nil {
		return swarm.ServiceSpec{}, err
	}
	update, err := convertUpdateConfig(deploy.UpdateConfig)
	if err != nil {
		return swarm.ServiceSpec{}, err
	}
	rollback, err := convertUpdateConfig(deploy.RollbackConfig)
	if err != nil {
		return swarm.ServiceSpec{}, err
	}

	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: name, Labels: serviceLabels},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: cs,
			LogDriver:     convertLogging(svc.Logging),
			Resources:     convertResources(deploy.Resources),
			RestartPolicy: restart,
			Placement: &swarm.Placement{
				Constraints: deploy.Placement.Constraints,
				Preferences: convertPreferences(deploy.Placement.Preferences),
				MaxReplicas: deploy.Placement.MaxReplicas,
			},
		},
		Networks:       nil,
		Mode:           mode,
		UpdateConfig:   update,
		RollbackConfig: rollback,
		EndpointSpec:   endpoint,
	}
	spec.TaskTemplate.Networks = nets
	return spec, nil
}

// capabilities writes capability names as docker's CLI sends them: upper
// case with the CAP_ prefix ("net_admin" -> "CAP_NET_ADMIN"), ALL as is.
func capabilities(caps []string) []string {
	var out []string
	for _, c := range caps {
		c = strings.ToUpper(c)
		if c != "ALL" && !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		out = append(out, c)
	}
	return out
}

func envList(env composetypes.MappingWithEquals) []string {
	var out []string
	for _, k := range sortedKeys(env) {
		if v := env[k]; v != nil {
			out = append(out, k+"="+*v)
		} else {
			out = append(out, k)
		}
	}
	return out
}

func durationPtr(d *composetypes.Duration) *time.Duration {
	if d == nil {
		return nil
	}
	v := time.Duration(*d)
	return &v
}

func convertHealthcheck(h *composetypes.HealthCheckConfig) *container.HealthConfig {
	if h == nil {
		return nil
	}
	if h.Disable {
		return &container.HealthConfig{Test: []string{"NONE"}}
	}
	out := &container.HealthConfig{Test: []string(h.Test)}
	if d := durationPtr(h.Timeout); d != nil {
		out.Timeout = *d
	}
	if d := durationPtr(h.Interval); d != nil {
		out.Interval = *d
	}
	if d := durationPtr(h.StartPeriod); d != nil {
		out.StartPeriod = *d
	}
	if d := durationPtr(h.StartInterval); d != nil {
		out.StartInterval = *d
	}
	if h.Retries != nil {
		out.Retries = int(*h.Retries)
	}
	return out
}

// convertExtraHosts writes extra_hosts as /etc/hosts lines ("IP host"), the
// form swarm's ContainerSpec.Hosts holds.
func convertExtraHosts(h composetypes.HostsList) []string {
	var out []string
	for _, host := range sortedKeys(h) {
		for _, ip := range h[host] {
			out = append(out, ip+" "+host)
		}
	}
	return out
}

func convertUlimits(u map[string]*composetypes.UlimitsConfig) []*container.Ulimit {
	var out []*container.Ulimit
	for _, name := range sortedKeys(u) {
		l := u[name]
		if l.Single != 0 {
			out = append(out, &container.Ulimit{Name: name, Soft: int64(l.Single), Hard: int64(l.Single)})
		} else {
			out = append(out, &container.Ulimit{Name: name, Soft: int64(l.Soft), Hard: int64(l.Hard)})
		}
	}
	return out
}

func convertLogging(l *composetypes.LoggingConfig) *swarm.Driver {
	if l == nil || (l.Driver == "" && len(l.Options) == 0) {
		return nil
	}
	return &swarm.Driver{Name: l.Driver, Options: map[string]string(l.Options)}
}

func convertResources(r composetypes.Resources) *swarm.ResourceRequirements {
	out := &swarm.ResourceRequirements{}
	if l := r.Limits; l != nil {
		out.Limits = &swarm.Limit{NanoCPUs: int64(float64(l.NanoCPUs) * 1e9), MemoryBytes: int64(l.MemoryBytes), Pids: l.Pids}
	}
	if rs := r.Reservations; rs != nil {
		res := &swarm.Resources{NanoCPUs: int64(float64(rs.NanoCPUs) * 1e9), MemoryBytes: int64(rs.MemoryBytes)}
		for _, g := range rs.GenericResources {
			if g.DiscreteResourceSpec != nil {
				res.GenericResources = append(res.GenericResources, swarm.GenericResource{
					DiscreteResourceSpec: &swarm.DiscreteGenericResource{Kind: g.DiscreteResourceSpec.Kind, Value: g.DiscreteResourceSpec.Value},
				})
			}
		}
		out.Reservations = res
	}
	if out.Limits == nil && out.Reservations == nil {
		return nil
	}
	return out
}

func convertPreferences(prefs []composetypes.PlacementPreferences) []swarm.PlacementPreference {
	var out []swarm.PlacementPreference
	for _, p := range prefs {
		out = append(out, swarm.PlacementPreference{Spread: &swarm.SpreadOver{SpreadDescriptor: p.Spread}})
	}
	return out
}

// convertRestartPolicy uses deploy.restart_policy, and falls back on the
// service's restart: as docker's stack deploy does.
func convertRestartPolicy(restart string, p *composetypes.RestartPolicy) (*swarm.RestartPolicy, error) {
	if p == nil {
		switch {
		case restart == "":
			return nil, nil
		case restart == "no":
			return &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone}, nil
		case restart == "always" || restart == "unless-stopped":
			return &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny}, nil
		case restart == "on-failure" || strings.HasPrefix(restart, "on-failure:"):
			out := &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure}
			if _, n, ok := strings.Cut(restart, ":"); ok {
				v, err := strconv.ParseUint(n, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("invalid restart policy %q", restart)
				}
				out.MaxAttempts = &v
			}
			return out, nil
		default:
			return nil, fmt.Errorf("invalid restart policy %q", restart)
		}
	}
	out := &swarm.RestartPolicy{
		Delay:       durationPtr(p.Delay),
		Window:      durationPtr(p.Window),
		MaxAttempts: p.MaxAttempts,
	}
	switch p.Condition {
	case "":
	case "any", "none", "on-failure":
		out.Condition = swarm.RestartPolicyCondition(p.Condition)
	default:
		return nil, fmt.Errorf("invalid restart condition %q: use none, on-failure or any", p.Condition)
	}
	return out, nil
}

func convertMode(mode string, replicas *int) (swarm.ServiceMode, error) {
	var r *uint64
	if replicas != nil {
		if *replicas < 0 {
			return swarm.ServiceMode{}, fmt.Errorf("invalid replicas %d: it must be 0 or more", *replicas)
		}
		v := uint64(*replicas)
		r = &v
	}
	switch mode {
	case "global":
		if replicas != nil {
			return swarm.ServiceMode{}, fmt.Errorf("replicas can only be used with replicated or replicated-job mode")
		}
		return swarm.ServiceMode{Global: &swarm.GlobalService{}}, nil
	case "global-job":
		if replicas != nil {
			return swarm.ServiceMode{}, fmt.Errorf("replicas can only be used with replicated or replicated-job mode")
		}
		return swarm.ServiceMode{GlobalJob: &swarm.GlobalJob{}}, nil
	case "replicated-job":
		if r == nil {
			one := uint64(1)
			r = &one
		}
		return swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{MaxConcurrent: r, TotalCompletions: r}}, nil
	case "", "replicated":
		if r == nil {
			one := uint64(1)
			r = &one
		}
		return swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: r}}, nil
	default:
		return swarm.ServiceMode{}, fmt.Errorf("unknown mode %q: use replicated, global, replicated-job or global-job", mode)
	}
}

func convertEndpoint(mode string, ports []composetypes.ServicePortConfig) (*swarm.EndpointSpec, error) {
	out := &swarm.EndpointSpec{}
	switch mode {
	case "", "vip":
		if mode != "" {
			out.Mode = swarm.ResolutionModeVIP
		}
	case "dnsrr":
		out.Mode = swarm.ResolutionModeDNSRR
	default:
		return nil, fmt.Errorf("unknown endpoint_mode %q: use vip or dnsrr", mode)
	}
	for _, p := range ports {
		pc := swarm.PortConfig{
			Name:       p.Name,
			TargetPort: p.Target,
			Protocol:   swarm.PortConfigProtocol(strings.ToLower(p.Protocol)),
		}
		if pc.Protocol == "" {
			pc.Protocol = swarm.PortConfigProtocolTCP
		}
		switch p.Mode {
		case "", "ingress":
			pc.PublishMode = swarm.PortConfigPublishModeIngress
		case "host":
			pc.PublishMode = swarm.PortConfigPublishModeHost
		default:
			return nil, fmt.Errorf("unknown port mode %q: use ingress or host", p.Mode)
		}
		if p.Published != "" {
			v, err := strconv.ParseUint(p.Published, 10, 16)
			if err != nil {
				return nil, fmt.Errorf("invalid published port %q: a port range is not supported in a stack", p.Published)
			}
			pc.PublishedPort = uint32(v)
		}
		out.Ports = append(out.Ports, pc)
	}
	if out.Mode == "" && len(out.Ports) == 0 {
		return nil, nil
	}
	return out, nil
}

func convertUpdateConfig(u *composetypes.UpdateConfig) (*swarm.UpdateConfig, error) {
	if u == nil {
		return nil, nil
	}
	parallelism := uint64(1)
	if u.Parallelism != nil {
		parallelism = *u.Parallelism
	}
	switch u.FailureAction {
	case "", "pause", "continue", "rollback":
	default:
		return nil, fmt.Errorf("invalid failure_action %q: use pause, continue or rollback", u.FailureAction)
	}
	switch u.Order {
	case "", "stop-first", "start-first":
	default:
		return nil, fmt.Errorf("invalid order %q: use stop-first or start-first", u.Order)
	}
	return &swarm.UpdateConfig{
		Parallelism:     parallelism,
		Delay:           time.Duration(u.Delay),
		FailureAction:   u.FailureAction,
		Monitor:         time.Duration(u.Monitor),
		MaxFailureRatio: u.MaxFailureRatio,
		Order:           u.Order,
	}, nil
}

// convertServiceNetworks attaches the service to its networks, with the
// service's short name as an alias on each (so `web` resolves inside the
// stack), sorted by target as docker's are.
func convertServiceNetworks(p *composetypes.Project, svc composetypes.ServiceConfig) ([]swarm.NetworkAttachmentConfig, error) {
	var out []swarm.NetworkAttachmentConfig
	for _, key := range sortedKeys(svc.Networks) {
		n, ok := p.Networks[key]
		if !ok {
			return nil, fmt.Errorf("undefined network %q", key)
		}
		var aliases []string
		if c := svc.Networks[key]; c != nil {
			aliases = append(aliases, c.Aliases...)
		}
		if c := svc.Networks[key]; c.ServiceNameAliasEnabled() {
			aliases = append(aliases, svc.Name)
		}
		out = append(out, swarm.NetworkAttachmentConfig{Target: n.Name, Aliases: aliases})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Target < out[j].Target })
	return out, nil
}

func convertVolumes(p *composetypes.Project, ns string, svc composetypes.ServiceConfig) ([]mount.Mount, error) {
	var out []mount.Mount
	for _, v := range svc.Volumes {
		m := mount.Mount{Target: v.Target, ReadOnly: v.ReadOnly, Source: v.Source}
		switch v.Type {
		case composetypes.VolumeTypeVolume:
			m.Type = mount.TypeVolume
			if v.Source != "" {
				decl, ok := p.Volumes[v.Source]
				if !ok {
					return nil, fmt.Errorf("undefined volume %q", v.Source)
				}
				m.Source = decl.Name
				m.VolumeOptions = &mount.VolumeOptions{Labels: map[string]string{NamespaceLabel: ns}}
				if decl.External {
					m.VolumeOptions = &mount.VolumeOptions{}
				} else {
					for k, val := range decl.Labels {
						m.VolumeOptions.Labels[k] = val
					}
					if decl.Driver != "" || len(decl.DriverOpts) > 0 {
						m.VolumeOptions.DriverConfig = &mount.Driver{Name: decl.Driver, Options: map[string]string(decl.DriverOpts)}
					}
				}
			} else {
				m.VolumeOptions = &mount.VolumeOptions{}
			}
			if v.Volume != nil {
				m.VolumeOptions.NoCopy = v.Volume.NoCopy
				m.VolumeOptions.Subpath = v.Volume.Subpath
			}
		case composetypes.VolumeTypeBind:
			m.Type = mount.TypeBind
			if v.Bind != nil && v.Bind.Propagation != "" {
				m.BindOptions = &mount.BindOptions{Propagation: mount.Propagation(v.Bind.Propagation)}
			}
		case composetypes.VolumeTypeTmpfs:
			m.Type = mount.TypeTmpfs
			if v.Source != "" {
				return nil, fmt.Errorf("invalid tmpfs mount %s: a tmpfs has no source", v.Target)
			}
			if v.Tmpfs != nil {
				m.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: int64(v.Tmpfs.Size), Mode: os.FileMode(v.Tmpfs.Mode)}
			}
		default:
			return nil, fmt.Errorf("volume type %q is not supported in a stack", v.Type)
		}
		out = append(out, m)
	}
	for _, t := range svc.Tmpfs {
		out = append(out, mount.Mount{Type: mount.TypeTmpfs, Target: t})
	}
	return out, nil
}

type fileRef struct {
	name string
	file *swarm.SecretReferenceFileTarget
}

// convertFileRefs maps a service's secrets: or configs: references onto the
// declared objects' names (names: key -> object name) and their file in the
// container: target, else the source's name, uid and gid 0, mode 0444, as
// docker's stack deploy writes them.
func convertFileRefs(refs []composetypes.FileReferenceConfig, names map[string]string, what string) ([]fileRef, error) {
	var out []fileRef
	seen := map[string]bool{}
	for _, r := range refs {
		name, ok := names[r.Source]
		if !ok {
			return nil, fmt.Errorf("undefined %s %q", what, r.Source)
		}
		target := r.Target
		if target == "" {
			target = r.Source
		}
		if what == "secret" {
			// The loader writes a secret's default target as an absolute
			// path; docker's stack deploy keeps it relative to
			// /run/secrets, and so does minsw, so both make one spec.
			target = strings.TrimPrefix(target, "/run/secrets/")
		}
		if seen[target] {
			return nil, fmt.Errorf("%s target %s is used twice", what, target)
		}
		seen[target] = true
		file := &swarm.SecretReferenceFileTarget{Name: target, UID: "0", GID: "0", Mode: 0o444}
		if r.UID != "" {
			file.UID = r.UID
		}
		if r.GID != "" {
			file.GID = r.GID
		}
		if r.Mode != nil {
			file.Mode = os.FileMode(*r.Mode)
		}
		out = append(out, fileRef{name: name, file: file})
	}
	return out, nil
}
