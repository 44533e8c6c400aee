package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/containerd/containerd/mount"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/continuity/fs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minsw/minsw/worker/executor"
)

// filesDir is where a container's secrets and configs are written: a tmpfs
// mounted for that container alone, so their bytes never reach the node's
// disk (the state dir itself may be on disk).
func (f containerFiles) filesDir() string { return filepath.Join(f.dir, "files") }

// storage returns the OCI options that give the container its mounts and
// files. It checks bind sources first (docker's message for a missing
// one), then mounts the files tmpfs and writes the files into it. On error
// nothing stays mounted.
func storage(spec executor.Spec, files containerFiles) ([]oci.SpecOpts, error) {
	var ms []specs.Mount
	for _, m := range spec.Mounts {
		switch m.Kind {
		case executor.MountBind:
			if _, err := os.Stat(m.Source); err != nil {
				if errors.Is(err, os.ErrNotExist) && m.Volume == "" {
					return nil, fmt.Errorf("invalid mount config for type \"bind\": bind source path does not exist: %s", m.Source)
				}
				if m.Volume != "" {
					return nil, fmt.Errorf("volume %s: %w", m.Volume, err)
				}
				return nil, fmt.Errorf("invalid mount config for type \"bind\": %w", err)
			}
			prop := m.Propagation
			if prop == "" {
				prop = "rprivate"
			}
			opts := []string{"rbind", prop}
			if m.ReadOnly {
				opts = append(opts, "ro")
			}
			ms = append(ms, specs.Mount{Type: "bind", Source: m.Source, Destination: m.Target, Options: opts})
		case executor.MountTmpfs:
			opts := []string{"nosuid", "nodev"}
			if m.TmpfsSize > 0 {
				opts = append(opts, "size="+strconv.FormatInt(m.TmpfsSize, 10))
			}
			mode := m.TmpfsMode
			if mode == 0 {
				mode = 0o1777
			}
			opts = append(opts, fmt.Sprintf("mode=%o", uint32(mode.Perm())|modeBits(mode)))
			if m.ReadOnly {
				opts = append(opts, "ro")
			}
			ms = append(ms, specs.Mount{Type: "tmpfs", Source: "tmpfs", Destination: m.Target, Options: opts})
		default:
			return nil, fmt.Errorf("mount at %s: unknown kind %d", m.Target, m.Kind)
		}
	}
	if len(spec.Files) > 0 {
		fileMounts, err := writeFiles(spec.Files, files.filesDir())
		if err != nil {
			unmountFiles(files)
			return nil, err
		}
		ms = append(ms, fileMounts...)
	}
	if len(ms) == 0 {
		return nil, nil
	}
	return []oci.SpecOpts{oci.WithMounts(ms)}, nil
}

// modeBits keeps the sticky, setuid and setgid bits of a Go file mode in
// their octal places.
func modeBits(m os.FileMode) uint32 {
	var b uint32
	if m&os.ModeSticky != 0 {
		b |= 0o1000
	}
	if m&os.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&os.ModeSetuid != 0 {
		b |= 0o4000
	}
	return b
}

// writeFiles mounts a small tmpfs at dir, writes each file into it with
// its owner and mode, and returns read-only bind mounts of them.
func writeFiles(list []executor.File, dir string) ([]specs.Mount, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var size int
	for _, f := range list {
		size += len(f.Data) + 4096
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC,
		fmt.Sprintf("mode=0700,size=%d", size+64*1024)); err != nil {
		return nil, fmt.Errorf("mount tmpfs for secrets and configs: %w", err)
	}
	var out []specs.Mount
	for i, f := range list {
		p := filepath.Join(dir, strconv.Itoa(i))
		if err := os.WriteFile(p, f.Data, 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", f.Target, err)
		}
		if err := os.Chown(p, f.UID, f.GID); err != nil {
			return nil, fmt.Errorf("chown %s: %w", f.Target, err)
		}
		if err := os.Chmod(p, f.Mode.Perm()); err != nil {
			return nil, fmt.Errorf("chmod %s: %w", f.Target, err)
		}
		out = append(out, specs.Mount{Type: "bind", Source: p, Destination: f.Target,
			Options: []string{"rbind", "rprivate", "ro", "nosuid", "nodev", "noexec"}})
	}
	return out, nil
}

// unmountFiles takes the container's files tmpfs away (its content goes
// with it); a container without one is fine.
func unmountFiles(files containerFiles) error {
	err := unix.Unmount(files.filesDir(), unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", files.filesDir(), err)
	}
	return nil
}

// copyUp fills each empty volume that asks for it with what the image has
// at the mount's target, as docker does for a new volume, reading the
// container's fresh snapshot.
func (e *Executor) copyUp(ctx context.Context, spec executor.Spec) error {
	var want []executor.Mount
	for _, m := range spec.Mounts {
		if m.CopyUp && m.Kind == executor.MountBind && isEmptyDir(m.Source) {
			want = append(want, m)
		}
	}
	if len(want) == 0 {
		return nil
	}
	mounts, err := e.client.SnapshotService(e.cfg.Snapshotter).Mounts(ctx, spec.ID)
	if err != nil {
		return fmt.Errorf("copy image content into volumes: %w", err)
	}
	return mount.WithTempMount(ctx, mounts, func(root string) error {
		for _, m := range want {
			src, err := fs.RootPath(root, m.Target)
			if err != nil {
				return err
			}
			st, err := os.Stat(src)
			if err != nil || !st.IsDir() {
				continue // nothing in the image there: the volume stays empty
			}
			if err := fs.CopyDir(m.Source, src); err != nil {
				return fmt.Errorf("copy image content into volume %s: %w", m.Volume, err)
			}
		}
		return nil
	})
}

func isEmptyDir(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	names, _ := f.Readdirnames(1)
	return len(names) == 0
}
