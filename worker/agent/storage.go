package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/executor"
)

// Labels the agent puts on a container naming the volumes it mounts, so
// the node can tell which volumes are in use, and which anonymous ones go
// with the container, from the runtime alone (after a restart too).
const (
	LabelVolumes          = "minsw.volumes"
	LabelAnonymousVolumes = "minsw.volumes.anonymous"
)

// Volumes is what the agent needs of the node's volume store.
type Volumes interface {
	// Use makes the named volume ready (created on first use) and returns
	// the host path to bind.
	Use(name string, labels, opts map[string]string) (string, error)
	// Remove deletes a volume (an anonymous one, with its container).
	Remove(name string, users []string, force bool) error
}

// fileStore holds the secrets and configs of the node's current assignment
// set, in memory only. Each set replaces the last, and the dispatcher sends
// only what the node's tasks need, so one that no task needs any more is
// dropped at the next set.
type fileStore struct {
	mu      sync.Mutex
	secrets map[string]*api.Secret
	configs map[string]*api.Config
}

func (f *fileStore) set(as *api.Assignments) {
	secrets := make(map[string]*api.Secret, len(as.GetSecrets()))
	for _, s := range as.GetSecrets() {
		secrets[s.GetId()] = s
	}
	configs := make(map[string]*api.Config, len(as.GetConfigs()))
	for _, c := range as.GetConfigs() {
		configs[c.GetId()] = c
	}
	f.mu.Lock()
	f.secrets, f.configs = secrets, configs
	f.mu.Unlock()
}

// held returns the IDs of the secrets and configs in memory (tests and
// the daemon's debugging; never their data).
func (f *fileStore) held() (secrets, configs []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id := range f.secrets {
		secrets = append(secrets, id)
	}
	for id := range f.configs {
		configs = append(configs, id)
	}
	sort.Strings(secrets)
	sort.Strings(configs)
	return secrets, configs
}

// HeldFiles returns the IDs of the secrets and configs this node holds in
// memory for its tasks.
func (a *Agent) HeldFiles() (secrets, configs []string) { return a.files.held() }

// secretPath is where a secret's file appears: a relative target lives
// under /run/secrets, as docker puts it.
func secretPath(target string) string {
	if strings.HasPrefix(target, "/") {
		return path.Clean(target)
	}
	return "/run/secrets/" + target
}

// configPath is where a config's file appears: at its target, from the
// root when relative.
func configPath(target string) string { return path.Clean("/" + target) }

func fileOf(target string, data []byte, ft *api.FileTarget) (executor.File, error) {
	f := executor.File{Target: target, Data: data, Mode: os.FileMode(ft.GetMode()) & os.ModePerm}
	if ft.GetMode() == 0 {
		f.Mode = 0o444
	}
	var err error
	if ft.GetUid() != "" {
		if f.UID, err = strconv.Atoi(ft.GetUid()); err != nil {
			return f, fmt.Errorf("invalid uid %q for %s", ft.GetUid(), target)
		}
	}
	if ft.GetGid() != "" {
		if f.GID, err = strconv.Atoi(ft.GetGid()); err != nil {
			return f, fmt.Errorf("invalid gid %q for %s", ft.GetGid(), target)
		}
	}
	return f, nil
}

// addFiles gives spec the task's secrets and configs, from memory.
func (f *fileStore) addFiles(spec *executor.Spec, c *api.ContainerSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range c.GetSecrets() {
		s := f.secrets[r.GetSecretId()]
		if s == nil {
			return fmt.Errorf("secret %s (%s) has not reached this node", r.GetSecretName(), r.GetSecretId())
		}
		file, err := fileOf(secretPath(r.GetFile().GetName()), s.GetSpec().GetData(), r.GetFile())
		if err != nil {
			return err
		}
		spec.Files = append(spec.Files, file)
	}
	for _, r := range c.GetConfigs() {
		cf := f.configs[r.GetConfigId()]
		if cf == nil {
			return fmt.Errorf("config %s (%s) has not reached this node", r.GetConfigName(), r.GetConfigId())
		}
		file, err := fileOf(configPath(r.GetFile().GetName()), cf.GetSpec().GetData(), r.GetFile())
		if err != nil {
			return err
		}
		spec.Files = append(spec.Files, file)
	}
	return nil
}

// anonymousVolume names the volume of a container's unnamed mount at
// target; the name is the same each time, so preparing the task again
// (after a restart) finds the same volume.
func anonymousVolume(containerID, target string) string {
	sum := sha256.Sum256([]byte(containerID + "\x00" + path.Clean(target)))
	return hex.EncodeToString(sum[:])
}

var propagations = map[api.MountPropagation]string{
	api.MountPropagation_MOUNT_PROPAGATION_RPRIVATE: "rprivate", api.MountPropagation_MOUNT_PROPAGATION_PRIVATE: "private",
	api.MountPropagation_MOUNT_PROPAGATION_RSHARED: "rshared", api.MountPropagation_MOUNT_PROPAGATION_SHARED: "shared",
	api.MountPropagation_MOUNT_PROPAGATION_RSLAVE: "rslave", api.MountPropagation_MOUNT_PROPAGATION_SLAVE: "slave",
}

// addStorage completes spec with the task's mounts (volumes made ready in
// the node's store), secrets and configs.
func (a *Agent) addStorage(spec *executor.Spec, t *api.Task) error {
	c := t.GetSpec().GetContainer()
	var named, anon []string
	for _, m := range c.GetMounts() {
		em := executor.Mount{Target: m.GetTarget(), ReadOnly: m.GetReadonly()}
		switch m.GetType() {
		case api.MountType_MOUNT_TYPE_BIND:
			em.Kind, em.Source = executor.MountBind, m.GetSource()
			em.Propagation = propagations[m.GetBindOptions().GetPropagation()]
		case api.MountType_MOUNT_TYPE_TMPFS:
			em.Kind = executor.MountTmpfs
			em.TmpfsSize = m.GetTmpfsOptions().GetSizeBytes()
			em.TmpfsMode = os.FileMode(m.GetTmpfsOptions().GetMode()) & os.ModePerm
			if m.GetTmpfsOptions().GetMode()&0o1000 != 0 {
				em.TmpfsMode |= os.ModeSticky
			}
		case api.MountType_MOUNT_TYPE_VOLUME:
			if a.cfg.Volumes == nil {
				return fmt.Errorf("volume mount at %s: this node has no volume store", m.GetTarget())
			}
			name, labels := m.GetSource(), m.GetVolumeOptions().GetLabels()
			if name == "" {
				name = anonymousVolume(spec.ID, m.GetTarget())
				labels = map[string]string{"com.docker.volume.anonymous": ""}
				anon = append(anon, name)
			} else {
				named = append(named, name)
			}
			src, err := a.cfg.Volumes.Use(name, labels, m.GetVolumeOptions().GetDriverConfig().GetOptions())
			if err != nil {
				return err
			}
			em.Kind, em.Source, em.Volume = executor.MountBind, src, name
			em.CopyUp = !m.GetVolumeOptions().GetNocopy()
		default:
			return fmt.Errorf("mount at %s: unsupported type %v", m.GetTarget(), m.GetType())
		}
		spec.Mounts = append(spec.Mounts, em)
	}
	if all := append(named, anon...); len(all) > 0 {
		spec.Labels[LabelVolumes] = strings.Join(all, ",")
	}
	if len(anon) > 0 {
		spec.Labels[LabelAnonymousVolumes] = strings.Join(anon, ",")
	}
	return a.files.addFiles(spec, c)
}

// removeAnonymousVolumes deletes the anonymous volumes a removed container
// used, as docker removes them with their container.
func (a *Agent) removeAnonymousVolumes(labels map[string]string) {
	if a.cfg.Volumes == nil || labels[LabelAnonymousVolumes] == "" {
		return
	}
	a.removeVolumes(strings.Split(labels[LabelAnonymousVolumes], ","))
}

// removeTaskVolumes deletes the anonymous volumes of task t's container,
// named from its spec: the container's labels may be gone already (removed
// before a restart).
func (a *Agent) removeTaskVolumes(t *api.Task, containerID string) {
	if a.cfg.Volumes == nil {
		return
	}
	var names []string
	for _, m := range t.GetSpec().GetContainer().GetMounts() {
		if m.GetType() == api.MountType_MOUNT_TYPE_VOLUME && m.GetSource() == "" {
			names = append(names, anonymousVolume(containerID, m.GetTarget()))
		}
	}
	a.removeVolumes(names)
}

func (a *Agent) removeVolumes(names []string) {
	for _, name := range names {
		if err := a.cfg.Volumes.Remove(name, nil, false); err != nil && !errdefs.Is(err, errdefs.KindNotFound) {
			a.log.Warn("remove anonymous volume", "volume", name, "err", err)
		}
	}
}

// VolumeUsers maps each volume name to the containers (by name) whose
// labels say they mount it: what `volume rm` and `volume prune` check.
func VolumeUsers(ctx context.Context, ex executor.Executor) (map[string][]string, error) {
	all, err := ex.List(ctx)
	if err != nil {
		return nil, err
	}
	users := map[string][]string{}
	for _, s := range all {
		if v := s.Labels[LabelVolumes]; v != "" {
			name := s.Name
			if name == "" {
				name = s.ID
			}
			for _, vol := range strings.Split(v, ",") {
				users[vol] = append(users[vol], name)
			}
		}
	}
	return users, nil
}
