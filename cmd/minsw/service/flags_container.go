package service

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/internal/containeropts"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// refusedFlags are docker service create flags that mean nothing for Linux
// containers: they are accepted with their default and refused otherwise,
// with the reason.
var refusedFlags = map[string]string{
	"credential-spec": "--credential-spec configures a Windows managed service account; minsw runs Linux containers only",
	"isolation":       "--isolation chooses a Windows isolation technology (process, hyperv); Linux containers have only the default",
}

// containerFlags are the rest of docker service create's options: resources,
// placement, job modes, endpoint mode and the container's own options.
// create registers them by docker's names; update by its --X-add/--X-rm or
// plain names.
type containerFlags struct {
	capAdd, capDrop                  []string
	credentialSpec, isolation        string
	dns, dnsOpt, dnsSearch           []string
	endpointMode                     string
	entrypoint                       string
	envFile                          []string
	genericRes                       []string
	groups                           []string
	hosts                            []string
	init, readOnly, tty              bool
	limitCPU, limitMem               string
	limitPids                        int64
	reserveCPU, reserveMem           string
	logDriver                        string
	logOpts                          []string
	maxConcurrent                    uint64
	noResolveImage, withRegistryAuth bool
	oomScoreAdj                      int64
	placementPref                    []string
	maxPerNode                       uint64
	stopSignal                       string
	sysctls                          []string
	ulimits                          []string

	// update only
	capAddU, capDropU                             []string
	dnsAdd, dnsRm, dnsOptAdd, dnsOptRm            []string
	dnsSearchAdd, dnsSearchRm                     []string
	genericAdd, genericRm, groupAdd, groupRm      []string
	hostAdd, hostRm, prefAdd, prefRm              []string
	sysctlAdd, sysctlRm, ulimitAdd, ulimitRm      []string
	ctrLabelAdd, ctrLabelRm                       []string
	hostname, workdir, user, stopGrace, entrypntU string
}

func (f *containerFlags) registerCreate(fs *pflag.FlagSet) {
	f.registerCommon(fs)
	fs.StringArrayVar(&f.capAdd, "cap-add", nil, "Add Linux capabilities")
	fs.StringArrayVar(&f.capDrop, "cap-drop", nil, "Drop Linux capabilities")
	fs.StringArrayVar(&f.dns, "dns", nil, "Set custom DNS servers")
	fs.StringArrayVar(&f.dnsOpt, "dns-option", nil, "Set DNS options")
	fs.StringArrayVar(&f.dnsSearch, "dns-search", nil, "Set custom DNS search domains")
	fs.StringVar(&f.entrypoint, "entrypoint", "", "Overwrite the default ENTRYPOINT of the image")
	fs.StringArrayVar(&f.envFile, "env-file", nil, "Read in a file of environment variables")
	fs.StringArrayVar(&f.genericRes, "generic-resource", nil, "User defined resources")
	fs.StringArrayVar(&f.groups, "group", nil, "Set one or more supplementary user groups for the container")
	fs.StringArrayVar(&f.hosts, "host", nil, "Set one or more custom host-to-IP mappings (host:ip)")
	fs.StringArrayVar(&f.placementPref, "placement-pref", nil, "Add a placement preference")
	fs.StringArrayVar(&f.sysctls, "sysctl", nil, "Sysctl options")
	fs.StringArrayVar(&f.ulimits, "ulimit", nil, "Ulimit options")
	fs.StringVar(&f.endpointMode, "endpoint-mode", "vip", "Endpoint mode (vip or dnsrr)")
}

// registerCommon registers the flags create and update share by name.
func (f *containerFlags) registerCommon(fs *pflag.FlagSet) {
	fs.StringVar(&f.credentialSpec, "credential-spec", "", "Credential spec for managed service account (Windows only)")
	fs.StringVar(&f.isolation, "isolation", "", "Service container isolation mode")
	fs.BoolVar(&f.init, "init", false, "Use an init inside each service container to forward signals and reap processes")
	fs.BoolVar(&f.readOnly, "read-only", false, "Mount the container's root filesystem as read only")
	fs.BoolVarP(&f.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	fs.StringVar(&f.limitCPU, "limit-cpu", "", "Limit CPUs")
	fs.StringVar(&f.limitMem, "limit-memory", "", "Limit Memory")
	fs.Int64Var(&f.limitPids, "limit-pids", 0, "Limit maximum number of processes (default 0 = unlimited)")
	fs.StringVar(&f.reserveCPU, "reserve-cpu", "", "Reserve CPUs")
	fs.StringVar(&f.reserveMem, "reserve-memory", "", "Reserve Memory")
	fs.StringVar(&f.logDriver, "log-driver", "", "Logging driver for service")
	fs.StringArrayVar(&f.logOpts, "log-opt", nil, "Logging driver options")
	fs.Uint64Var(&f.maxConcurrent, "max-concurrent", 0, "Number of job tasks to run concurrently (default equal to --replicas)")
	fs.BoolVar(&f.noResolveImage, "no-resolve-image", false, "Do not query the registry to resolve image digest and supported platforms")
	fs.BoolVar(&f.withRegistryAuth, "with-registry-auth", false, "Send registry authentication details to swarm agents")
	fs.Int64Var(&f.oomScoreAdj, "oom-score-adj", 0, "Tune host's OOM preferences (-1000 to 1000) ")
	fs.Uint64Var(&f.maxPerNode, "replicas-max-per-node", 0, "Maximum number of tasks per node (default 0 = unlimited)")
	fs.StringVar(&f.stopSignal, "stop-signal", "", "Signal to stop the container")
}

func (f *containerFlags) registerUpdate(fs *pflag.FlagSet) {
	f.registerCommon(fs)
	fs.StringArrayVar(&f.capAddU, "cap-add", nil, "Add Linux capabilities")
	fs.StringArrayVar(&f.capDropU, "cap-drop", nil, "Drop Linux capabilities")
	fs.StringArrayVar(&f.dnsAdd, "dns-add", nil, "Add or update a custom DNS server")
	fs.StringArrayVar(&f.dnsRm, "dns-rm", nil, "Remove a custom DNS server")
	fs.StringArrayVar(&f.dnsOptAdd, "dns-option-add", nil, "Add or update a DNS option")
	fs.StringArrayVar(&f.dnsOptRm, "dns-option-rm", nil, "Remove a DNS option")
	fs.StringArrayVar(&f.dnsSearchAdd, "dns-search-add", nil, "Add or update a custom DNS search domain")
	fs.StringArrayVar(&f.dnsSearchRm, "dns-search-rm", nil, "Remove a DNS search domain")
	fs.StringVar(&f.entrypntU, "entrypoint", "", "Overwrite the default ENTRYPOINT of the image")
	fs.StringVar(&f.endpointMode, "endpoint-mode", "", "Endpoint mode (vip or dnsrr)")
	fs.StringArrayVar(&f.genericAdd, "generic-resource-add", nil, "Add a Generic resource")
	fs.StringArrayVar(&f.genericRm, "generic-resource-rm", nil, "Remove a Generic resource")
	fs.StringArrayVar(&f.groupAdd, "group-add", nil, "Add an additional supplementary user group to the container")
	fs.StringArrayVar(&f.groupRm, "group-rm", nil, "Remove a previously added supplementary user group from the container")
	fs.StringArrayVar(&f.hostAdd, "host-add", nil, "Add a custom host-to-IP mapping (\"host:ip\")")
	fs.StringArrayVar(&f.hostRm, "host-rm", nil, "Remove a custom host-to-IP mapping (\"host:ip\")")
	fs.StringArrayVar(&f.prefAdd, "placement-pref-add", nil, "Add a placement preference")
	fs.StringArrayVar(&f.prefRm, "placement-pref-rm", nil, "Remove a placement preference")
	fs.StringArrayVar(&f.sysctlAdd, "sysctl-add", nil, "Add or update a Sysctl option")
	fs.StringArrayVar(&f.sysctlRm, "sysctl-rm", nil, "Remove a Sysctl option")
	fs.StringArrayVar(&f.ulimitAdd, "ulimit-add", nil, "Add or update a ulimit option")
	fs.StringArrayVar(&f.ulimitRm, "ulimit-rm", nil, "Remove a ulimit option")
	fs.StringArrayVar(&f.ctrLabelAdd, "container-label-add", nil, "Add or update a container label")
	fs.StringArrayVar(&f.ctrLabelRm, "container-label-rm", nil, "Remove a container label by its key")
	fs.StringVar(&f.hostname, "hostname", "", "Container hostname")
	fs.StringVarP(&f.workdir, "workdir", "w", "", "Working directory inside the container")
	fs.StringVarP(&f.user, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	fs.StringVar(&f.stopGrace, "stop-grace-period", "", "Time to wait before force killing a container (ns|us|ms|s|m|h)")
}

// refuse checks the Windows-only flags.
func (f *containerFlags) refuse(changed func(string) bool) error {
	if changed("credential-spec") && f.credentialSpec != "" {
		return errors.New(refusedFlags["credential-spec"])
	}
	if changed("isolation") && f.isolation != "" && f.isolation != "default" {
		return fmt.Errorf("invalid --isolation %q: %s", f.isolation, refusedFlags["isolation"])
	}
	return nil
}

// specStep applies some of the flags to a spec; the steps of create and
// update run in a fixed order, so the first bad flag is the one reported.
type specStep func(changed func(string) bool, spec *minswv1.ServiceSpec) error

func runSteps(changed func(string) bool, spec *minswv1.ServiceSpec, steps ...specStep) error {
	for _, step := range steps {
		if err := step(changed, spec); err != nil {
			return err
		}
	}
	return nil
}

// applyCreate sets the options given to create on spec; mode is --mode.
func (f *containerFlags) applyCreate(cmd *cobra.Command, spec *minswv1.ServiceSpec, mode string) error {
	changed := cmd.Flags().Changed
	if err := f.refuse(changed); err != nil {
		return err
	}
	if err := runSteps(changed, spec, f.createProcess, f.createKernel, f.createPlacement); err != nil {
		return err
	}
	if err := f.applyCommon(cmd, spec); err != nil {
		return err
	}
	return f.applyJobMode(cmd, spec, mode)
}

// createProcess: capabilities, DNS, entrypoint, env files, groups, hosts.
func (f *containerFlags) createProcess(changed func(string) bool, spec *minswv1.ServiceSpec) error {
	ct := spec.Task.Container
	ct.CapAdd, ct.CapDrop = f.capAdd, f.capDrop
	if len(f.dns)+len(f.dnsOpt)+len(f.dnsSearch) > 0 {
		ct.DnsConfig = &minswv1.DNSConfig{Nameservers: f.dns, Options: f.dnsOpt, Search: f.dnsSearch}
	}
	if changed("entrypoint") {
		ep, err := splitCommand(f.entrypoint)
		if err != nil {
			return err
		}
		ct.Command = ep
	}
	if len(f.envFile) > 0 {
		var env []string
		for _, path := range f.envFile {
			e, err := readEnvFile(path)
			if err != nil {
				return err
			}
			env = append(env, e...)
		}
		ct.Env = append(env, ct.Env...) // -e wins over the file, as docker
	}
	ct.Groups = f.groups
	for _, h := range f.hosts {
		line, err := hostLine(h)
		if err != nil {
			return err
		}
		ct.Hosts = append(ct.Hosts, line)
	}
	return nil
}

// createKernel: sysctls and ulimits.
func (f *containerFlags) createKernel(_ func(string) bool, spec *minswv1.ServiceSpec) error {
	ct := spec.Task.Container
	for _, s := range f.sysctls {
		k, v, _ := strings.Cut(s, "=")
		if ct.Sysctls == nil {
			ct.Sysctls = map[string]string{}
		}
		ct.Sysctls[k] = v
	}
	for _, u := range f.ulimits {
		ul, err := parseUlimit(u)
		if err != nil {
			return err
		}
		ct.Ulimits = append(ct.Ulimits, ul)
	}
	return nil
}

// createPlacement: placement preferences, endpoint mode, generic resources.
func (f *containerFlags) createPlacement(_ func(string) bool, spec *minswv1.ServiceSpec) error {
	ts := spec.Task
	for _, p := range f.placementPref {
		pp, err := parsePlacementPref(p)
		if err != nil {
			return err
		}
		placement(ts).Preferences = append(placement(ts).Preferences, pp)
	}
	if f.endpointMode != "vip" {
		if err := setEndpointMode(spec, f.endpointMode); err != nil {
			return err
		}
	}
	for _, g := range f.genericRes {
		gr, err := parseGenericResource(g)
		if err != nil {
			return err
		}
		res(ts, false).Generic = append(res(ts, false).Generic, gr)
	}
	return nil
}

// applyJobMode sets --mode replicated-job/global-job; --max-concurrent
// belongs to a job.
func (f *containerFlags) applyJobMode(cmd *cobra.Command, spec *minswv1.ServiceSpec, mode string) error {
	changed := cmd.Flags().Changed
	switch mode {
	case "replicated-job":
		total := uint64(1)
		if changed("replicas") {
			total, _ = cmd.Flags().GetUint64("replicas")
		}
		conc := total
		if changed("max-concurrent") {
			conc = f.maxConcurrent
		}
		spec.Mode = &minswv1.ServiceSpec_ReplicatedJob{ReplicatedJob: &minswv1.ReplicatedJob{TotalCompletions: total, MaxConcurrent: conc}}
		jobRestartDefault(cmd, spec)
	case "global-job":
		if changed("replicas") {
			return errors.New("replicas can only be used with replicated or replicated-job mode")
		}
		if changed("max-concurrent") {
			return errors.New("max-concurrent can only be used with replicated-job mode")
		}
		spec.Mode = &minswv1.ServiceSpec_GlobalJob{GlobalJob: &minswv1.GlobalJob{}}
		jobRestartDefault(cmd, spec)
	default:
		if changed("max-concurrent") {
			return errors.New("max-concurrent can only be used with replicated-job mode")
		}
	}
	return nil
}

// jobRestartDefault: a job's tasks are restarted only on failure unless the
// user says otherwise, as docker's.
func jobRestartDefault(cmd *cobra.Command, spec *minswv1.ServiceSpec) {
	if !cmd.Flags().Changed("restart-condition") {
		spec.Task.Restart.Condition = minswv1.RestartCondition_RESTART_CONDITION_ON_FAILURE
	}
}

// applyCommon sets the options create and update take with the same name.
func (f *containerFlags) applyCommon(cmd *cobra.Command, spec *minswv1.ServiceSpec) error {
	return runSteps(cmd.Flags().Changed, spec, f.commonProcess, f.commonLimits, f.commonReservations, f.commonLogDriver, f.commonPlacementAuth)
}

// commonProcess: init, read-only, tty, OOM score and stop signal.
func (f *containerFlags) commonProcess(changed func(string) bool, spec *minswv1.ServiceSpec) error {
	ct := spec.Task.Container
	if changed("init") {
		ct.Init = f.init
	}
	if changed("read-only") {
		ct.ReadOnly = f.readOnly
	}
	if changed("tty") {
		ct.Tty = f.tty
	}
	if changed("oom-score-adj") {
		if f.oomScoreAdj < -1000 || f.oomScoreAdj > 1000 {
			return fmt.Errorf("invalid --oom-score-adj %d: must be between -1000 and 1000", f.oomScoreAdj)
		}
		ct.OomScoreAdj = f.oomScoreAdj
	}
	if changed("stop-signal") {
		if _, err := containeropts.Signal(f.stopSignal); err != nil && f.stopSignal != "" {
			return fmt.Errorf("invalid --stop-signal: %w", err)
		}
		ct.StopSignal = f.stopSignal
	}
	return nil
}

// commonLimits: --limit-cpu, --limit-memory, --limit-pids.
func (f *containerFlags) commonLimits(changed func(string) bool, spec *minswv1.ServiceSpec) error {
	ts := spec.Task
	if changed("limit-cpu") {
		n, err := containeropts.NanoCPUs(f.limitCPU)
		if err != nil {
			return fmt.Errorf("invalid --limit-cpu: %w", err)
		}
		res(ts, true).NanoCpus = n
	}
	if changed("limit-memory") {
		n, err := containeropts.Bytes(f.limitMem)
		if err != nil {
			return fmt.Errorf("invalid --limit-memory: %w", err)
		}
		res(ts, true).MemoryBytes = n
	}
	if changed("limit-pids") {
		if f.limitPids < 0 {
			return fmt.Errorf("invalid --limit-pids %d: must not be negative", f.limitPids)
		}
		res(ts, true).Pids = f.limitPids
	}
	return nil
}

// commonReservations: --reserve-cpu, --reserve-memory.
func (f *containerFlags) commonReservations(changed func(string) bool, spec *minswv1.ServiceSpec) error {
	ts := spec.Task
	if changed("reserve-cpu") {
		n, err := containeropts.NanoCPUs(f.reserveCPU)
		if err != nil {
			return fmt.Errorf("invalid --reserve-cpu: %w", err)
		}
		res(ts, false).NanoCpus = n
	}
	if changed("reserve-memory") {
		n, err := containeropts.Bytes(f.reserveMem)
		if err != nil {
			return fmt.Errorf("invalid --reserve-memory: %w", err)
		}
		res(ts, false).MemoryBytes = n
	}
	return nil
}

// commonLogDriver: --log-driver and --log-opt.
func (f *containerFlags) commonLogDriver(changed func(string) bool, spec *minswv1.ServiceSpec) error {
	ts := spec.Task
	if !changed("log-driver") && !changed("log-opt") {
		return nil
	}
	if ts.LogDriver == nil {
		ts.LogDriver = &minswv1.LogDriver{}
	}
	if changed("log-driver") {
		ts.LogDriver.Name = f.logDriver
	}
	for _, o := range f.logOpts {
		k, v, ok := strings.Cut(o, "=")
		if !ok {
			return fmt.Errorf("invalid --log-opt %q: want KEY=VALUE", o)
		}
		if ts.LogDriver.Options == nil {
			ts.LogDriver.Options = map[string]string{}
		}
		ts.LogDriver.Options[k] = v
	}
	return nil
}

// commonPlacementAuth: --replicas-max-per-node and --with-registry-auth.
func (f *containerFlags) commonPlacementAuth(changed func(string) bool, spec *minswv1.ServiceSpec) error {
	ts := spec.Task
	if changed("replicas-max-per-node") {
		placement(ts).MaxReplicas = f.maxPerNode
	}
	if f.withRegistryAuth {
		auth, err := registryAuth(ts.Container.GetImage())
		if err != nil {
			return err
		}
		ts.Container.RegistryAuth = auth
	}
	return nil
}

// applyUpdate carries out update's flags on spec.
func (f *containerFlags) applyUpdate(cmd *cobra.Command, spec *minswv1.ServiceSpec) error {
	changed := cmd.Flags().Changed
	if err := f.refuse(changed); err != nil {
		return err
	}
	err := runSteps(changed, spec, f.updateCaps, f.updateDNS, f.updateEntrypoint, f.updateGeneric,
		f.updateGroupsHosts, f.updatePrefs, f.updateKernel, f.updateContainer, f.updateMaxConcurrent)
	if err != nil {
		return err
	}
	return f.applyCommon(cmd, spec)
}

// updateCaps: --cap-add and --cap-drop; adding a capability takes it off
// the drop list and back, as docker's.
func (f *containerFlags) updateCaps(_ func(string) bool, spec *minswv1.ServiceSpec) error {
	ct := spec.Task.Container
	for _, c := range f.capAddU {
		ct.CapDrop = removeFold(ct.CapDrop, c)
		if !containsFold(ct.CapAdd, c) {
			ct.CapAdd = append(ct.CapAdd, c)
		}
	}
	for _, c := range f.capDropU {
		ct.CapAdd = removeFold(ct.CapAdd, c)
		if !containsFold(ct.CapDrop, c) {
			ct.CapDrop = append(ct.CapDrop, c)
		}
	}
	return nil
}

// updateDNS: --dns-add/-rm, --dns-option-add/-rm, --dns-search-add/-rm.
func (f *containerFlags) updateDNS(_ func(string) bool, spec *minswv1.ServiceSpec) error {
	ct := spec.Task.Container
	if len(f.dnsAdd)+len(f.dnsRm)+len(f.dnsOptAdd)+len(f.dnsOptRm)+len(f.dnsSearchAdd)+len(f.dnsSearchRm) == 0 {
		return nil
	}
	if ct.DnsConfig == nil {
		ct.DnsConfig = &minswv1.DNSConfig{}
	}
	d := ct.DnsConfig
	d.Nameservers = addRemove(d.Nameservers, f.dnsAdd, f.dnsRm)
	d.Options = addRemove(d.Options, f.dnsOptAdd, f.dnsOptRm)
	d.Search = addRemove(d.Search, f.dnsSearchAdd, f.dnsSearchRm)
	return nil
}

// updateEntrypoint: --entrypoint and --endpoint-mode.
func (f *containerFlags) updateEntrypoint(changed func(string) bool, spec *minswv1.ServiceSpec) error {
	if changed("entrypoint") {
		ep, err := splitCommand(f.entrypntU)
		if err != nil {
			return err
		}
		spec.Task.Container.Command = ep
	}
	if changed("endpoint-mode") {
		if err := setEndpointMode(spec, f.endpointMode); err != nil {
			return err
		}
	}
	return nil
}

// updateGeneric: --generic-resource-rm then --generic-resource-add.
func (f *containerFlags) updateGeneric(_ func(string) bool, spec *minswv1.ServiceSpec) error {
	ts := spec.Task
	for _, g := range f.genericRm {
		if r := ts.GetResources().GetReservations(); r != nil {
			r.Generic = slices.DeleteFunc(r.Generic, func(x *minswv1.GenericResource) bool { return x.GetKind() == g })
		}
	}
	for _, g := range f.genericAdd {
		gr, err := parseGenericResource(g)
		if err != nil {
			return err
		}
		r := res(ts, false)
		r.Generic = slices.DeleteFunc(r.Generic, func(x *minswv1.GenericResource) bool { return x.GetKind() == gr.GetKind() })
		r.Generic = append(r.Generic, gr)
	}
	return nil
}

// updateGroupsHosts: --group-add/-rm and --host-add/-rm.
func (f *containerFlags) updateGroupsHosts(_ func(string) bool, spec *minswv1.ServiceSpec) error {
	ct := spec.Task.Container
	ct.Groups = addRemove(ct.Groups, f.groupAdd, f.groupRm)
	hostsAdd, err := hostLines(f.hostAdd)
	if err != nil {
		return err
	}
	hostsRm, err := hostLines(f.hostRm)
	if err != nil {
		return err
	}
	ct.Hosts = addRemove(ct.Hosts, hostsAdd, hostsRm)
	return nil
}

// hostLines is hostLine of each of list.
func hostLines(list []string) ([]string, error) {
	var out []string
	for _, h := range list {
		l, err := hostLine(h)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// updatePrefs: --placement-pref-rm then --placement-pref-add.
func (f *containerFlags) updatePrefs(_ func(string) bool, spec *minswv1.ServiceSpec) error {
	if len(f.prefAdd)+len(f.prefRm) == 0 {
		return nil
	}
	p := placement(spec.Task)
	for _, r := range f.prefRm {
		pp, err := parsePlacementPref(r)
		if err != nil {
			return err
		}
		p.Preferences = slices.DeleteFunc(p.Preferences, func(x *minswv1.PlacementPreference) bool {
			return x.GetSpreadDescriptor() == pp.GetSpreadDescriptor()
		})
	}
	for _, a := range f.prefAdd {
		pp, err := parsePlacementPref(a)
		if err != nil {
			return err
		}
		p.Preferences = append(p.Preferences, pp)
	}
	return nil
}

// updateKernel: --sysctl-add/-rm and --ulimit-add/-rm.
func (f *containerFlags) updateKernel(_ func(string) bool, spec *minswv1.ServiceSpec) error {
	ct := spec.Task.Container
	for _, k := range f.sysctlRm {
		delete(ct.Sysctls, k)
	}
	for _, s := range f.sysctlAdd {
		k, v, _ := strings.Cut(s, "=")
		if ct.Sysctls == nil {
			ct.Sysctls = map[string]string{}
		}
		ct.Sysctls[k] = v
	}
	for _, n := range f.ulimitRm {
		ct.Ulimits = slices.DeleteFunc(ct.Ulimits, func(u *minswv1.Ulimit) bool { return u.GetName() == n })
	}
	for _, s := range f.ulimitAdd {
		ul, err := parseUlimit(s)
		if err != nil {
			return err
		}
		ct.Ulimits = slices.DeleteFunc(ct.Ulimits, func(u *minswv1.Ulimit) bool { return u.GetName() == ul.GetName() })
		ct.Ulimits = append(ct.Ulimits, ul)
	}
	return nil
}

// updateContainer: container labels, hostname, workdir, user, stop grace.
func (f *containerFlags) updateContainer(changed func(string) bool, spec *minswv1.ServiceSpec) error {
	ct := spec.Task.Container
	for _, k := range f.ctrLabelRm {
		delete(ct.Labels, k)
	}
	for k, v := range cli.ParseKV(f.ctrLabelAdd) {
		if ct.Labels == nil {
			ct.Labels = map[string]string{}
		}
		ct.Labels[k] = v
	}
	if changed("hostname") {
		ct.Hostname = f.hostname
	}
	if changed("workdir") {
		ct.Dir = f.workdir
	}
	if changed("user") {
		ct.User = f.user
	}
	if changed("stop-grace-period") {
		d, err := parseDurationFlag("stop-grace-period", f.stopGrace)
		if err != nil {
			return err
		}
		ct.StopGracePeriod = d
	}
	return nil
}

// updateMaxConcurrent: --max-concurrent, for a replicated job only.
func (f *containerFlags) updateMaxConcurrent(changed func(string) bool, spec *minswv1.ServiceSpec) error {
	if !changed("max-concurrent") {
		return nil
	}
	j := spec.GetReplicatedJob()
	if j == nil {
		return errors.New("max-concurrent can only be used with replicated-job mode")
	}
	j.MaxConcurrent = f.maxConcurrent
	return nil
}

func placement(ts *minswv1.TaskSpec) *minswv1.Placement {
	if ts.Placement == nil {
		ts.Placement = &minswv1.Placement{}
	}
	return ts.Placement
}

// res returns the task's limits (or reservations), made if missing.
func res(ts *minswv1.TaskSpec, limits bool) *minswv1.Resources {
	if ts.Resources == nil {
		ts.Resources = &minswv1.ResourceRequirements{}
	}
	if limits {
		if ts.Resources.Limits == nil {
			ts.Resources.Limits = &minswv1.Resources{}
		}
		return ts.Resources.Limits
	}
	if ts.Resources.Reservations == nil {
		ts.Resources.Reservations = &minswv1.Resources{}
	}
	return ts.Resources.Reservations
}

func setEndpointMode(spec *minswv1.ServiceSpec, mode string) error {
	if spec.Endpoint == nil {
		spec.Endpoint = &minswv1.EndpointSpec{}
	}
	switch mode {
	case "vip", "":
		spec.Endpoint.Mode = minswv1.EndpointMode_ENDPOINT_MODE_VIP
	case "dnsrr":
		spec.Endpoint.Mode = minswv1.EndpointMode_ENDPOINT_MODE_DNSRR
	default:
		return fmt.Errorf("invalid --endpoint-mode %q: must be vip or dnsrr", mode)
	}
	return nil
}

// parsePlacementPref reads --placement-pref spread=node.labels.zone.
func parsePlacementPref(s string) (*minswv1.PlacementPreference, error) {
	strategy, desc, ok := strings.Cut(s, "=")
	if !ok || desc == "" {
		return nil, fmt.Errorf("invalid --placement-pref %q: want spread=<node attribute>, e.g. spread=node.labels.zone", s)
	}
	if strategy != "spread" {
		return nil, fmt.Errorf("invalid --placement-pref %q: unknown strategy %q (only spread is supported)", s, strategy)
	}
	return &minswv1.PlacementPreference{SpreadDescriptor: desc}, nil
}

// parseGenericResource reads --generic-resource KIND=COUNT.
func parseGenericResource(s string) (*minswv1.GenericResource, error) {
	k, v, ok := strings.Cut(s, "=")
	n, err := strconv.ParseInt(v, 10, 64)
	if !ok || k == "" || err != nil || n <= 0 {
		return nil, fmt.Errorf("invalid --generic-resource %q: want KIND=COUNT with a positive count, e.g. gpu=1", s)
	}
	return &minswv1.GenericResource{Kind: k, Value: n}, nil
}

func parseUlimit(s string) (*minswv1.Ulimit, error) {
	n, soft, hard, err := containeropts.Ulimit(s)
	if err != nil {
		return nil, err
	}
	return &minswv1.Ulimit{Name: n, Soft: soft, Hard: hard}, nil
}

// hostLine turns docker's --host host:ip into an /etc/hosts line "ip host".
func hostLine(s string) (string, error) {
	host, ip, ok := strings.Cut(s, ":")
	if !ok || host == "" || ip == "" {
		// host=ip is accepted too, as docker does.
		if host, ip, ok = strings.Cut(s, "="); !ok || host == "" || ip == "" {
			return "", fmt.Errorf("invalid --host %q: want HOST:IP", s)
		}
	}
	return ip + " " + host, nil
}

// splitCommand splits --entrypoint on white space, as docker's
// command-line type does ("" clears it).
func splitCommand(s string) ([]string, error) {
	return strings.Fields(s), nil
}

// readEnvFile reads a docker env file: KEY=VALUE lines, # comments, and a
// bare KEY taking its value from the CLI's environment.
func readEnvFile(path string) ([]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--env-file: %w", err)
	}
	defer fh.Close()
	var out []string
	sc := bufio.NewScanner(fh)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimLeft(sc.Text(), " \t")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, hasValue := strings.Cut(line, "=")
		if k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("--env-file %s line %d: variable %q has white space", path, n, k)
		}
		if !hasValue {
			if v, ok := os.LookupEnv(k); ok {
				out = append(out, k+"="+v)
			}
			continue
		}
		out = append(out, line)
	}
	return out, sc.Err()
}

// registryAuth reads the credentials the docker CLI stored for image's
// registry ($DOCKER_CONFIG/config.json or ~/.docker/config.json) and
// encodes them as docker's X-Registry-Auth.
func registryAuth(image string) (string, error) {
	ref, err := name.ParseReference(image, name.WeakValidation)
	if err != nil {
		return "", fmt.Errorf("--with-registry-auth: invalid image %q: %v", image, err)
	}
	host := ref.Context().RegistryStr()
	dir := os.Getenv("DOCKER_CONFIG")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".docker")
	}
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return "", fmt.Errorf("--with-registry-auth: no docker credentials: %w (run docker login %s)", err, host)
	}
	var cfg struct {
		Auths map[string]struct {
			Auth     string `json:"auth"`
			Username string `json:"username"`
			Password string `json:"password"`
		} `json:"auths"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return "", fmt.Errorf("--with-registry-auth: %s: %v", filepath.Join(dir, "config.json"), err)
	}
	keys := []string{host, "https://" + host, "http://" + host}
	if host == name.DefaultRegistry {
		keys = append(keys, "https://index.docker.io/v1/", "index.docker.io")
	}
	for _, k := range keys {
		a, ok := cfg.Auths[k]
		if !ok {
			continue
		}
		user, pass := a.Username, a.Password
		if a.Auth != "" {
			dec, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				return "", fmt.Errorf("--with-registry-auth: credentials for %s are not base64", k)
			}
			user, pass, _ = strings.Cut(string(dec), ":")
		}
		b, _ := json.Marshal(map[string]string{"username": user, "password": pass, "serveraddress": host})
		return base64.URLEncoding.EncodeToString(b), nil
	}
	return "", fmt.Errorf("--with-registry-auth: no credentials for %s in %s (run docker login %s)", host, filepath.Join(dir, "config.json"), host)
}

func addRemove(list, add, rm []string) []string {
	list = slices.DeleteFunc(slices.Clone(list), func(s string) bool { return slices.Contains(rm, s) })
	for _, a := range add {
		if !slices.Contains(list, a) {
			list = append(list, a)
		}
	}
	return list
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return capKey(x) == capKey(s) })
}

func removeFold(list []string, s string) []string {
	return slices.DeleteFunc(list, func(x string) bool { return capKey(x) == capKey(s) })
}

func capKey(s string) string {
	return strings.TrimPrefix(strings.ToUpper(s), "CAP_")
}

func parseDurationFlag(flag, s string) (*durationpb.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return nil, fmt.Errorf("invalid --%s %q: want a duration such as 10s (ns|us|ms|s|m|h)", flag, s)
	}
	return durationpb.New(d), nil
}
