package convert

import (
	"os"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"
	"google.golang.org/protobuf/types/known/durationpb"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Mounts, secrets, configs, health checks and the update/rollback policy,
// each way.

var mountTypes = map[api.MountType]mount.Type{
	api.MountType_MOUNT_TYPE_BIND:   mount.TypeBind,
	api.MountType_MOUNT_TYPE_VOLUME: mount.TypeVolume,
	api.MountType_MOUNT_TYPE_TMPFS:  mount.TypeTmpfs,
}

var propagations = map[api.MountPropagation]mount.Propagation{
	api.MountPropagation_MOUNT_PROPAGATION_RPRIVATE: mount.PropagationRPrivate,
	api.MountPropagation_MOUNT_PROPAGATION_PRIVATE:  mount.PropagationPrivate,
	api.MountPropagation_MOUNT_PROPAGATION_RSHARED:  mount.PropagationRShared,
	api.MountPropagation_MOUNT_PROPAGATION_SHARED:   mount.PropagationShared,
	api.MountPropagation_MOUNT_PROPAGATION_RSLAVE:   mount.PropagationRSlave,
	api.MountPropagation_MOUNT_PROPAGATION_SLAVE:    mount.PropagationSlave,
}

func mounts(ms []*api.Mount) []mount.Mount {
	var out []mount.Mount
	for _, m := range ms {
		o := mount.Mount{Type: mountTypes[m.GetType()], Source: m.GetSource(), Target: m.GetTarget(), ReadOnly: m.GetReadonly()}
		if b := m.GetBindOptions(); b != nil {
			o.BindOptions = &mount.BindOptions{Propagation: propagations[b.GetPropagation()]}
		}
		if v := m.GetVolumeOptions(); v != nil {
			o.VolumeOptions = &mount.VolumeOptions{NoCopy: v.GetNocopy(), Labels: copyMap(v.GetLabels())}
			if d := v.GetDriverConfig(); d != nil {
				o.VolumeOptions.DriverConfig = &mount.Driver{Name: d.GetName(), Options: copyMap(d.GetOptions())}
			}
		}
		if t := m.GetTmpfsOptions(); t != nil {
			o.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: t.GetSizeBytes(), Mode: os.FileMode(t.GetMode())}
		}
		out = append(out, o)
	}
	return out
}

func mountsFrom(ms []mount.Mount) ([]*api.Mount, error) {
	var out []*api.Mount
	for _, m := range ms {
		o := &api.Mount{Source: m.Source, Target: m.Target, Readonly: m.ReadOnly}
		if m.ImageOptions != nil || m.ClusterOptions != nil {
			return nil, unsupported("TaskTemplate.ContainerSpec.Mounts", "image and cluster volume mounts")
		}
		found := false
		for k, v := range mountTypes {
			if v == m.Type {
				o.Type, found = k, true
			}
		}
		if !found {
			return nil, invalid("invalid mount type %q: use bind, volume or tmpfs", m.Type)
		}
		if b := m.BindOptions; b != nil {
			o.BindOptions = &api.BindOptions{}
			if b.Propagation != "" {
				found = false
				for k, v := range propagations {
					if v == b.Propagation {
						o.BindOptions.Propagation, found = k, true
					}
				}
				if !found {
					return nil, invalid("invalid bind propagation %q", b.Propagation)
				}
			}
			if b.NonRecursive || b.CreateMountpoint || b.ReadOnlyNonRecursive || b.ReadOnlyForceRecursive {
				return nil, unsupported("TaskTemplate.ContainerSpec.Mounts.BindOptions", "this bind option")
			}
		}
		if v := m.VolumeOptions; v != nil {
			if v.Subpath != "" {
				return nil, unsupported("TaskTemplate.ContainerSpec.Mounts.VolumeOptions.Subpath", "volume subpaths")
			}
			o.VolumeOptions = &api.VolumeOptions{Nocopy: v.NoCopy, Labels: copyMap(v.Labels)}
			if d := v.DriverConfig; d != nil {
				o.VolumeOptions.DriverConfig = &api.Driver{Name: d.Name, Options: copyMap(d.Options)}
			}
		}
		if t := m.TmpfsOptions; t != nil {
			if len(t.Options) > 0 {
				return nil, unsupported("TaskTemplate.ContainerSpec.Mounts.TmpfsOptions.Options", "tmpfs options")
			}
			o.TmpfsOptions = &api.TmpfsOptions{SizeBytes: t.SizeBytes, Mode: uint32(t.Mode.Perm())}
		}
		out = append(out, o)
	}
	return out, nil
}

func fileTarget(f *api.FileTarget) (name, uid, gid string, mode os.FileMode, ok bool) {
	if f == nil {
		return "", "", "", 0, false
	}
	return f.GetName(), f.GetUid(), f.GetGid(), os.FileMode(f.GetMode()), true
}

func secretRefs(rs []*api.SecretReference) []*swarm.SecretReference {
	var out []*swarm.SecretReference
	for _, r := range rs {
		o := &swarm.SecretReference{SecretID: r.GetSecretId(), SecretName: r.GetSecretName()}
		if name, uid, gid, mode, ok := fileTarget(r.GetFile()); ok {
			o.File = &swarm.SecretReferenceFileTarget{Name: name, UID: uid, GID: gid, Mode: mode}
		}
		out = append(out, o)
	}
	return out
}

func configRefs(rs []*api.ConfigReference) []*swarm.ConfigReference {
	var out []*swarm.ConfigReference
	for _, r := range rs {
		o := &swarm.ConfigReference{ConfigID: r.GetConfigId(), ConfigName: r.GetConfigName()}
		if name, uid, gid, mode, ok := fileTarget(r.GetFile()); ok {
			o.File = &swarm.ConfigReferenceFileTarget{Name: name, UID: uid, GID: gid, Mode: mode}
		}
		out = append(out, o)
	}
	return out
}

func protoFileTarget(name, uid, gid string, mode os.FileMode) *api.FileTarget {
	return &api.FileTarget{Name: name, Uid: uid, Gid: gid, Mode: uint32(mode.Perm())}
}

func secretRefsFrom(rs []*swarm.SecretReference) []*api.SecretReference {
	var out []*api.SecretReference
	for _, r := range rs {
		o := &api.SecretReference{SecretId: r.SecretID, SecretName: r.SecretName}
		if f := r.File; f != nil {
			o.File = protoFileTarget(f.Name, f.UID, f.GID, f.Mode)
		}
		out = append(out, o)
	}
	return out
}

func configRefsFrom(rs []*swarm.ConfigReference) ([]*api.ConfigReference, error) {
	var out []*api.ConfigReference
	for _, r := range rs {
		o := &api.ConfigReference{ConfigId: r.ConfigID, ConfigName: r.ConfigName}
		if r.Runtime != nil {
			return nil, unsupported("TaskTemplate.ContainerSpec.Configs.Runtime", "runtime configs (a Windows credential spec)")
		}
		if f := r.File; f != nil {
			o.File = protoFileTarget(f.Name, f.UID, f.GID, f.Mode)
		}
		out = append(out, o)
	}
	return out, nil
}

func health(h *api.HealthConfig) *container.HealthConfig {
	if h == nil {
		return nil
	}
	return &container.HealthConfig{
		Test: h.GetTest(), Interval: h.GetInterval().AsDuration(), Timeout: h.GetTimeout().AsDuration(),
		Retries: int(h.GetRetries()), StartPeriod: h.GetStartPeriod().AsDuration(), StartInterval: h.GetStartInterval().AsDuration(),
	}
}

func optDur(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}

func healthFrom(h *container.HealthConfig) *api.HealthConfig {
	if h == nil {
		return nil
	}
	return &api.HealthConfig{
		Test: h.Test, Interval: optDur(h.Interval), Timeout: optDur(h.Timeout), Retries: uint32(max(h.Retries, 0)),
		StartPeriod: optDur(h.StartPeriod), StartInterval: optDur(h.StartInterval),
	}
}

var failureActions = map[api.UpdateFailureAction]string{
	api.UpdateFailureAction_UPDATE_FAILURE_ACTION_PAUSE:    swarm.UpdateFailureActionPause,
	api.UpdateFailureAction_UPDATE_FAILURE_ACTION_CONTINUE: swarm.UpdateFailureActionContinue,
	api.UpdateFailureAction_UPDATE_FAILURE_ACTION_ROLLBACK: swarm.UpdateFailureActionRollback,
}

var orders = map[api.UpdateOrder]string{
	api.UpdateOrder_UPDATE_ORDER_STOP_FIRST:  swarm.UpdateOrderStopFirst,
	api.UpdateOrder_UPDATE_ORDER_START_FIRST: swarm.UpdateOrderStartFirst,
}

func updateConfig(u *api.UpdateConfig) *swarm.UpdateConfig {
	return &swarm.UpdateConfig{
		Parallelism: u.GetParallelism(), Delay: u.GetDelay().AsDuration(), Monitor: u.GetMonitor().AsDuration(),
		FailureAction: failureActions[u.GetFailureAction()], MaxFailureRatio: u.GetMaxFailureRatio(), Order: orders[u.GetOrder()],
	}
}

func updateConfigFrom(u swarm.UpdateConfig, field string) (*api.UpdateConfig, error) {
	out := &api.UpdateConfig{Parallelism: u.Parallelism, Delay: optDur(u.Delay), Monitor: optDur(u.Monitor), MaxFailureRatio: u.MaxFailureRatio}
	if u.FailureAction != "" {
		found := false
		for k, v := range failureActions {
			if v == u.FailureAction {
				out.FailureAction, found = k, true
			}
		}
		if !found {
			return nil, invalid("invalid %s.FailureAction %q: use pause, continue or rollback", field, u.FailureAction)
		}
	}
	if u.Order != "" {
		found := false
		for k, v := range orders {
			if v == u.Order {
				out.Order, found = k, true
			}
		}
		if !found {
			return nil, invalid("invalid %s.Order %q: use stop-first or start-first", field, u.Order)
		}
	}
	return out, nil
}
