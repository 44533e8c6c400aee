// Package ociimage builds OCI images from a description of their files and
// pushes them to a registry. It exists so that tests and the lab can make the
// images they run (a busybox, whoami, net-box) from files on this machine,
// without Docker Hub or a Dockerfile builder. It owns no registry and talks
// only to the registry named in the reference it is given.
package ociimage

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// File is one entry of an image's root filesystem. Its kind comes from Mode's
// type bits: fs.ModeDir, fs.ModeSymlink, or none for a regular file.
type File struct {
	Path     string      // absolute path inside the image, e.g. /bin/sh
	Mode     fs.FileMode // permission bits plus the type bits
	Data     []byte      // content of a regular file, unless Source is set
	Source   string      // host file to read the content from
	Linkname string      // target of a symlink
	UID, GID int
}

// Dir describes a directory.
func Dir(p string, perm fs.FileMode) File { return File{Path: p, Mode: fs.ModeDir | perm.Perm()} }

// Symlink describes a symbolic link p -> target.
func Symlink(p, target string) File {
	return File{Path: p, Mode: fs.ModeSymlink | 0o777, Linkname: target}
}

// Content describes a regular file holding data.
func Content(p string, data []byte, perm fs.FileMode) File {
	return File{Path: p, Mode: perm.Perm(), Data: data}
}

// HostFile describes a regular file copied from the host path src; the
// permission bits are taken from src when perm is 0.
func HostFile(p, src string, perm fs.FileMode) File {
	return File{Path: p, Mode: perm.Perm(), Source: src}
}

// Config is the part of an image's runtime configuration minsw cares about.
type Config struct {
	Entrypoint   []string
	Cmd          []string
	Env          []string
	WorkingDir   string
	User         string
	ExposedPorts []string // "80/tcp"
	Labels       map[string]string
}

// Spec describes an image: one layer of files plus a config.
type Spec struct {
	Files  []File
	Config Config
	// Platform defaults to linux/<this machine's architecture>.
	OS, Architecture string
}

// epoch is the time every entry and the image carry, so that one Spec always
// gives the same digest.
var epoch = time.Unix(0, 0).UTC()

// Build makes an OCI image of spec. The layer is built in memory.
func Build(spec Spec) (v1.Image, error) {
	layer, err := Layer(spec.Files)
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		return nil, fmt.Errorf("append layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS = orDefault(spec.OS, "linux")
	cf.Architecture = orDefault(spec.Architecture, runtime.GOARCH)
	cf.Created = v1.Time{Time: epoch}
	c := spec.Config
	cf.Config = v1.Config{
		Entrypoint: c.Entrypoint,
		Cmd:        c.Cmd,
		Env:        c.Env,
		WorkingDir: c.WorkingDir,
		User:       c.User,
		Labels:     c.Labels,
	}
	if len(c.ExposedPorts) > 0 {
		cf.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range c.ExposedPorts {
			cf.Config.ExposedPorts[p] = struct{}{}
		}
	}
	return mutate.ConfigFile(img, cf)
}

// Layer packs files into one gzip-compressed OCI layer. Parent directories
// that files do not list are added (0755, root); entries are written in path
// order with a fixed time, so the same files give the same digest.
func Layer(files []File) (v1.Layer, error) {
	data, err := tarFiles(files)
	if err != nil {
		return nil, err
	}
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

func tarFiles(files []File) ([]byte, error) {
	byPath := map[string]File{}
	for _, f := range files {
		p := path.Clean("/" + f.Path)
		if p == "/" {
			continue
		}
		if !strings.HasPrefix(f.Path, "/") {
			return nil, fmt.Errorf("image path %q is not absolute", f.Path)
		}
		f.Path = p
		byPath[p] = f
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := byPath[d]; !ok {
				byPath[d] = Dir(d, 0o755)
			}
		}
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	sort.Strings(paths)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		f := byPath[p]
		if existing, ok := byPath[path.Dir(p)]; ok && !existing.Mode.IsDir() {
			return nil, fmt.Errorf("%s: parent %s is not a directory", p, existing.Path)
		}
		hdr := &tar.Header{
			Name:    strings.TrimPrefix(p, "/"),
			Mode:    int64(f.Mode.Perm()),
			Uid:     f.UID,
			Gid:     f.GID,
			ModTime: epoch,
			Format:  tar.FormatPAX,
		}
		var content []byte
		switch {
		case f.Mode.IsDir():
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
		case f.Mode&fs.ModeSymlink != 0:
			if f.Linkname == "" {
				return nil, fmt.Errorf("%s: symlink without a target", p)
			}
			hdr.Typeflag = tar.TypeSymlink
			hdr.Linkname = f.Linkname
		case f.Mode.IsRegular():
			hdr.Typeflag = tar.TypeReg
			content = f.Data
			if f.Source != "" {
				b, err := os.ReadFile(f.Source)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", p, err)
				}
				content = b
				if f.Mode.Perm() == 0 {
					st, err := os.Stat(f.Source)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", p, err)
					}
					hdr.Mode = int64(st.Mode().Perm())
				}
			}
			hdr.Size = int64(len(content))
		default:
			return nil, fmt.Errorf("%s: unsupported file mode %v", p, f.Mode)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if _, err := tw.Write(content); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// PushOption adjusts Push.
type PushOption func(*pushOptions)

type pushOptions struct{ insecure bool }

// Insecure allows plain HTTP to the registry. Loopback and RFC 1918
// registries get plain HTTP without it.
func Insecure() PushOption { return func(o *pushOptions) { o.insecure = true } }

// Push uploads img to ref ("127.0.0.1:5000/library/busybox:latest") and
// returns the digest of its manifest.
func Push(ctx context.Context, ref string, img v1.Image, opts ...PushOption) (v1.Hash, error) {
	var o pushOptions
	for _, opt := range opts {
		opt(&o)
	}
	var nopts []name.Option
	if o.insecure {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("push %s: %w", ref, err)
	}
	if err := remote.Write(r, img, remote.WithContext(ctx), remote.WithAuth(authn.Anonymous)); err != nil {
		return v1.Hash{}, fmt.Errorf("push %s: %w", ref, err)
	}
	return img.Digest()
}

// BuildAndPush builds spec and pushes it to ref.
func BuildAndPush(ctx context.Context, ref string, spec Spec, opts ...PushOption) (v1.Hash, error) {
	img, err := Build(spec)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("build %s: %w", ref, err)
	}
	return Push(ctx, ref, img, opts...)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// errNoApplets is returned when a busybox binary lists no applets.
var errNoApplets = errors.New("busybox lists no applets")
