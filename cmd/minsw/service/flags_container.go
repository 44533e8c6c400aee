package service

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"
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
