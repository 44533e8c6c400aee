package containerd

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minsw/minsw/internal/containeropts"
	"github.com/minsw/minsw/worker/executor"
)

// initPath is where --init's binary appears in the container, as docker's
// docker-init.
const initPath = "/sbin/docker-init"

// InitBinaries are the host's static tini builds tried for --init, in
// order; Debian's tini package ships /usr/bin/tini-static.
var initBinaries = []string{"/usr/bin/tini-static", "/usr/bin/docker-init"}

// findInit returns the host's init binary for --init.
func findInit() (string, error) {
	for _, p := range initBinaries {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("--init needs a static init on the node (apt-get install tini): none of %s", strings.Join(initBinaries, ", "))
}

// optionSpecOpts turns the task's container options into OCI spec options:
// every option of `docker service create` that changes the container's
// process or cgroup is applied here and nowhere else. They run after the
// image config, so they override it; args is the process's command line,
// which --init wraps.
func optionSpecOpts(o executor.Options, args []string) ([]oci.SpecOpts, []string, error) {
	var opts []oci.SpecOpts
	if o.Dir != "" {
		opts = append(opts, oci.WithProcessCwd(o.Dir))
	}
	if o.User != "" {
		opts = append(opts, oci.WithUser(o.User))
	}
	if len(o.Groups) > 0 {
		opts = append(opts, oci.WithAppendAdditionalGroups(o.Groups...))
	}
	if o.Init {
		bin, err := findInit()
		if err != nil {
			return nil, nil, err
		}
		opts = append(opts, oci.WithMounts([]specs.Mount{{Destination: initPath, Type: "bind", Source: bin, Options: []string{"bind", "ro", "rprivate"}}}))
		args = append([]string{initPath, "--"}, args...)
	}
	if o.ReadOnly {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	if o.TTY {
		opts = append(opts, oci.WithTTY)
	}
	caps, err := capabilityOpts(o.CapAdd, o.CapDrop)
	if err != nil {
		return nil, nil, err
	}
	opts = append(opts, caps...)
	if len(o.Sysctls) > 0 {
		for k, v := range o.Sysctls {
			if err := containeropts.Sysctl(k, v); err != nil {
				return nil, nil, err
			}
		}
		opts = append(opts, withSysctls(o.Sysctls))
	}
	if len(o.Ulimits) > 0 {
		opts = append(opts, withUlimits(o.Ulimits))
	}
	if o.OOMScoreAdj != 0 {
		if o.OOMScoreAdj < -1000 || o.OOMScoreAdj > 1000 {
			return nil, nil, fmt.Errorf("invalid oom-score-adj %d: must be between -1000 and 1000", o.OOMScoreAdj)
		}
		adj := o.OOMScoreAdj
		opts = append(opts, func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
			s.Process.OOMScoreAdj = &adj
			return nil
		})
	}
	if o.MemoryBytes > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(o.MemoryBytes)))
	}
	if o.NanoCPUs > 0 {
		// docker's --cpus: a CFS quota over a 100ms period.
		const period = 100_000
		opts = append(opts, oci.WithCPUCFS(o.NanoCPUs*period/1e9, period))
	}
	if o.Pids > 0 {
		opts = append(opts, oci.WithPidsLimit(o.Pids))
	}
	return opts, args, nil
}

// capabilityOpts drops, then adds, as docker does: --cap-drop ALL
// --cap-add NET_ADMIN leaves only NET_ADMIN.
func capabilityOpts(add, drop []string) ([]oci.SpecOpts, error) {
	norm := func(list []string) ([]string, error) {
		var out []string
		for _, c := range list {
			n, err := containeropts.Capability(c)
			if err != nil {
				return nil, err
			}
			out = append(out, n)
		}
		return out, nil
	}
	a, err := norm(add)
	if err != nil {
		return nil, err
	}
	d, err := norm(drop)
	if err != nil {
		return nil, err
	}
	var opts []oci.SpecOpts
	switch {
	case slices.Contains(d, "ALL"):
		opts = append(opts, oci.WithCapabilities(nil))
	case len(d) > 0:
		opts = append(opts, oci.WithDroppedCapabilities(d))
	}
	switch {
	case slices.Contains(a, "ALL"):
		opts = append(opts, oci.WithCapabilities(containeropts.AllCapabilities()))
	case len(a) > 0:
		opts = append(opts, oci.WithAddedCapabilities(a))
	}
	return opts, nil
}

func withSysctls(m map[string]string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		if s.Linux.Sysctl == nil {
			s.Linux.Sysctl = map[string]string{}
		}
		for k, v := range m {
			s.Linux.Sysctl[k] = v
		}
		return nil
	}
}

// withUlimits sets RLIMIT_<NAME>; -1 is unlimited.
func withUlimits(us []executor.Ulimit) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		for _, u := range us {
			typ := "RLIMIT_" + strings.ToUpper(u.Name)
			rl := specs.POSIXRlimit{Type: typ, Soft: uint64(u.Soft), Hard: uint64(u.Hard)}
			s.Process.Rlimits = slices.DeleteFunc(s.Process.Rlimits, func(r specs.POSIXRlimit) bool { return r.Type == typ })
			s.Process.Rlimits = append(s.Process.Rlimits, rl)
		}
		return nil
	}
}
