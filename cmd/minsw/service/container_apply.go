package service

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/internal/containeropts"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

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
