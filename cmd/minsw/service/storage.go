package service

import (
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/minsw/minsw/cmd/minsw/internal/storageopts"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// storageFlags are a service's --mount, --secret and --config flags, and
// their -add/-rm forms on update.
type storageFlags struct {
	mounts, secrets, configs       []string
	mountRm, secretRm, configRm    []string
	mountAdd, secretAdd, configAdd []string
}

func (s *storageFlags) registerCreate(f *pflag.FlagSet) {
	f.StringArrayVar(&s.mounts, "mount", nil, "Attach a filesystem mount to the service")
	f.StringArrayVar(&s.secrets, "secret", nil, "Specify secrets to expose to the service")
	f.StringArrayVar(&s.configs, "config", nil, "Specify configurations to expose to the service")
}

func (s *storageFlags) registerUpdate(f *pflag.FlagSet) {
	f.StringArrayVar(&s.mountAdd, "mount-add", nil, "Add or update a mount on a service")
	f.StringArrayVar(&s.mountRm, "mount-rm", nil, "Remove a mount by its target path")
	f.StringArrayVar(&s.secretAdd, "secret-add", nil, "Add or update a secret on a service")
	f.StringArrayVar(&s.secretRm, "secret-rm", nil, "Remove a secret")
	f.StringArrayVar(&s.configAdd, "config-add", nil, "Add or update a config file on a service")
	f.StringArrayVar(&s.configRm, "config-rm", nil, "Remove a configuration file")
}

// applyCreate fills a new container spec from the create flags.
func (s *storageFlags) applyCreate(ct *minswv1.ContainerSpec) error {
	return addStorage(ct, s.mounts, s.secrets, s.configs)
}

// applyUpdate removes what the -rm flags name (mounts by target, secrets
// and configs by name), then adds the -add flags' items, replacing a mount
// at the same target as docker does.
func (s *storageFlags) applyUpdate(ct *minswv1.ContainerSpec) error {
	rmTargets := make([]string, 0, len(s.mountRm))
	for _, t := range s.mountRm {
		rmTargets = append(rmTargets, path.Clean(t))
	}
	ct.Mounts = slices.DeleteFunc(ct.Mounts, func(m *minswv1.Mount) bool { return slices.Contains(rmTargets, path.Clean(m.GetTarget())) })
	ct.Secrets = slices.DeleteFunc(ct.Secrets, func(r *minswv1.SecretReference) bool { return slices.Contains(s.secretRm, r.GetSecretName()) })
	ct.Configs = slices.DeleteFunc(ct.Configs, func(r *minswv1.ConfigReference) bool { return slices.Contains(s.configRm, r.GetConfigName()) })
	return addStorage(ct, s.mountAdd, s.secretAdd, s.configAdd)
}

func addStorage(ct *minswv1.ContainerSpec, mounts, secrets, configs []string) error {
	for _, v := range mounts {
		m, err := storageopts.Mount(v)
		if err != nil {
			return invalidFlag("mount", v, err)
		}
		ct.Mounts = slices.DeleteFunc(ct.Mounts, func(o *minswv1.Mount) bool { return path.Clean(o.GetTarget()) == path.Clean(m.GetTarget()) })
		ct.Mounts = append(ct.Mounts, m)
	}
	for _, v := range secrets {
		r, err := storageopts.Secret(v)
		if err != nil {
			return invalidFlag("secret", v, err)
		}
		ct.Secrets = append(ct.Secrets, r)
	}
	for _, v := range configs {
		r, err := storageopts.Config(v)
		if err != nil {
			return invalidFlag("config", v, err)
		}
		ct.Configs = append(ct.Configs, r)
	}
	return nil
}

// invalidFlag words a parse error as docker's flag errors read.
func invalidFlag(flag, value string, err error) error {
	return &flagValueError{flag: flag, value: value, err: err}
}

type flagValueError struct {
	flag, value string
	err         error
}

func (e *flagValueError) Error() string {
	return "invalid argument \"" + storageopts.Printable(e.value) + "\" for \"--" + e.flag + "\" flag: " + e.err.Error()
}

// printStoragePretty adds docker's Mounts, Configs and Secrets sections to
// `service inspect --pretty`.
func printStoragePretty(w io.Writer, ct *minswv1.ContainerSpec) {
	if ms := ct.GetMounts(); len(ms) > 0 {
		fmt.Fprintln(w, "Mounts:")
		for _, m := range ms {
			fmt.Fprintf(w, " Target:\t%s\n", m.GetTarget())
			fmt.Fprintf(w, "  Source:\t%s\n", m.GetSource())
			fmt.Fprintf(w, "  ReadOnly:\t%t\n", m.GetReadonly())
			fmt.Fprintf(w, "  Type:\t%s\n", strings.ToLower(strings.TrimPrefix(m.GetType().String(), "MOUNT_TYPE_")))
		}
	}
	if cs := ct.GetConfigs(); len(cs) > 0 {
		fmt.Fprintln(w, "Configs:")
		for _, c := range cs {
			fmt.Fprintf(w, " Target:\t%s\n", c.GetFile().GetName())
			fmt.Fprintf(w, "  Source:\t%s\n", c.GetConfigName())
		}
	}
	if ss := ct.GetSecrets(); len(ss) > 0 {
		fmt.Fprintln(w, "Secrets:")
		for _, s := range ss {
			fmt.Fprintf(w, " Target:\t%s\n", s.GetFile().GetName())
			fmt.Fprintf(w, "  Source:\t%s\n", s.GetSecretName())
		}
	}
}
