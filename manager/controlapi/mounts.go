package controlapi

import (
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// volumeNameRE is docker's rule for local volume names.
var volumeNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// validateStorage checks a container's mounts and its secret and config
// targets as docker's daemon does, before anything is stored.
func validateStorage(c *api.ContainerSpec) error {
	seen := map[string]bool{}
	for _, m := range c.GetMounts() {
		if err := validateMount(m); err != nil {
			return err
		}
		t := path.Clean(m.GetTarget())
		if seen[t] {
			return errdefs.InvalidArgument("invalid mount config: duplicate mount point: %s", m.GetTarget())
		}
		seen[t] = true
	}
	for _, r := range c.GetSecrets() {
		if r.GetSecretId() == "" && r.GetSecretName() == "" {
			return errdefs.InvalidArgument("invalid secret reference: no source secret given")
		}
		if err := validateFile("secret", r.GetFile()); err != nil {
			return err
		}
	}
	for _, r := range c.GetConfigs() {
		if r.GetConfigId() == "" && r.GetConfigName() == "" {
			return errdefs.InvalidArgument("invalid config reference: no source config given")
		}
		if err := validateFile("config", r.GetFile()); err != nil {
			return err
		}
	}
	return nil
}

func validateFile(kind string, f *api.FileTarget) error {
	if f == nil {
		return nil
	}
	for _, el := range strings.Split(f.GetName(), "/") {
		if el == ".." {
			return errdefs.InvalidArgument("invalid %s target %q: it must not contain ..", kind, f.GetName())
		}
	}
	for _, id := range []string{f.GetUid(), f.GetGid()} {
		if id == "" {
			continue
		}
		if _, err := strconv.ParseUint(id, 10, 32); err != nil {
			return errdefs.InvalidArgument("invalid %s uid/gid %q: want a number", kind, id)
		}
	}
	if f.GetMode() > 0o7777 {
		return errdefs.InvalidArgument("invalid %s file mode %o", kind, f.GetMode())
	}
	return nil
}

// validateMount applies docker's rules (daemon/cluster/executor/container
// validation): a target always, an absolute one; a bind needs an absolute
// source; a tmpfs takes no source; volumes use the local driver.
func validateMount(m *api.Mount) error {
	kind := mountTypeName(m.GetType())
	if m.GetTarget() == "" {
		return errdefs.InvalidArgument("invalid mount config for type %q: field Target must not be empty", kind)
	}
	if !path.IsAbs(m.GetTarget()) {
		return errdefs.InvalidArgument("invalid mount config for type %q: invalid mount path: '%s' mount path must be absolute", kind, m.GetTarget())
	}
	if m.GetBindOptions() != nil && m.GetType() != api.MountType_MOUNT_TYPE_BIND {
		return errdefs.InvalidArgument("invalid mount config for type %q: bind options given for a %s mount", kind, kind)
	}
	if m.GetVolumeOptions() != nil && m.GetType() != api.MountType_MOUNT_TYPE_VOLUME {
		return errdefs.InvalidArgument("invalid mount config for type %q: volume options given for a %s mount", kind, kind)
	}
	if m.GetTmpfsOptions() != nil && m.GetType() != api.MountType_MOUNT_TYPE_TMPFS {
		return errdefs.InvalidArgument("invalid mount config for type %q: tmpfs options given for a %s mount", kind, kind)
	}
	switch m.GetType() {
	case api.MountType_MOUNT_TYPE_BIND:
		if m.GetSource() == "" {
			return errdefs.InvalidArgument("invalid mount config for type \"bind\": field Source must not be empty")
		}
		if !path.IsAbs(m.GetSource()) {
			return errdefs.InvalidArgument("invalid mount config for type \"bind\": invalid mount path: '%s' mount path must be absolute", m.GetSource())
		}
	case api.MountType_MOUNT_TYPE_VOLUME:
		if d := m.GetVolumeOptions().GetDriverConfig().GetName(); d != "" && d != "local" {
			return errdefs.InvalidArgument("invalid mount config for type \"volume\": volume driver %q is not supported: minsw volumes use the local driver", d)
		}
		if s := m.GetSource(); s != "" && !volumeNameRE.MatchString(s) {
			return errdefs.InvalidArgument("invalid mount config for type \"volume\": %q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path", s)
		}
	case api.MountType_MOUNT_TYPE_TMPFS:
		if m.GetSource() != "" {
			return errdefs.InvalidArgument("invalid mount config for type \"tmpfs\": field Source must be empty")
		}
		if m.GetTmpfsOptions().GetSizeBytes() < 0 {
			return errdefs.InvalidArgument("invalid mount config for type \"tmpfs\": invalid tmpfs size %d", m.GetTmpfsOptions().GetSizeBytes())
		}
	default:
		return errdefs.InvalidArgument("invalid mount config: mount type %d is not supported", m.GetType())
	}
	return nil
}

func mountTypeName(t api.MountType) string {
	return strings.ToLower(strings.TrimPrefix(t.String(), "MOUNT_TYPE_"))
}
