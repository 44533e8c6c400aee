package ociimage_test

import (
	"archive/tar"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/minsw/minsw/internal/ociimage"
	"github.com/minsw/minsw/internal/testenv"
)

func TestBusyboxImageRoundTripsThroughARegistry(t *testing.T) {
	reg := testenv.NewRegistry(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spec, err := ociimage.Busybox(ctx, testenv.BusyboxBinary)
	if err != nil {
		t.Fatal(err)
	}
	spec.Config.WorkingDir = "/root"
	ref := reg.Host + "/library/busybox:latest"
	dgst, err := ociimage.BuildAndPush(ctx, ref, spec)
	if err != nil {
		t.Fatal(err)
	}

	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r, remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := img.Digest(); got != dgst {
		t.Errorf("digest %v, pushed %v", got, dgst)
	}
	mt, _ := img.MediaType()
	if mt != "application/vnd.oci.image.manifest.v1+json" {
		t.Errorf("media type %s", mt)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Config.WorkingDir != "/root" || len(cf.Config.Cmd) != 1 || cf.Config.Cmd[0] != "sh" {
		t.Errorf("config %+v", cf.Config)
	}

	entries := map[string]*tar.Header{}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		entries[strings.TrimSuffix(h.Name, "/")] = h
	}
	for name, want := range map[string]string{"bin/sh": "busybox", "usr/bin/env": "../../bin/busybox"} {
		h := entries[name]
		if h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != want {
			t.Errorf("%s: %+v, want symlink to %s", name, h, want)
		}
	}
	if h := entries["bin/busybox"]; h == nil || h.Size < 100000 || h.Mode&0o111 == 0 {
		t.Errorf("bin/busybox: %+v", h)
	}
	if h := entries["tmp"]; h == nil || h.Mode&0o777 != 0o777 {
		t.Errorf("tmp: %+v", h)
	}
}

func TestSameSpecSameDigest(t *testing.T) {
	spec := ociimage.Spec{
		Files: []ociimage.File{
			ociimage.Content("/app/hello.txt", []byte("hi\n"), 0o644),
			ociimage.Symlink("/app/latest", "hello.txt"),
		},
		Config: ociimage.Config{Entrypoint: []string{"/app/run"}, Env: []string{"A=1"}, ExposedPorts: []string{"80/tcp"}},
	}
	a, err := ociimage.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ociimage.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Errorf("digests differ: %v %v", da, db)
	}
}

func TestBadFilesAreRejected(t *testing.T) {
	for name, files := range map[string][]ociimage.File{
		"relative path":          {ociimage.Content("etc/x", nil, 0o644)},
		"symlink without target": {{Path: "/x", Mode: 0o777 | 1<<27}},
		"file under a file":      {ociimage.Content("/a", nil, 0o644), ociimage.Content("/a/b", nil, 0o644)},
		"missing host file":      {ociimage.HostFile("/x", "/nonexistent/file", 0)},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ociimage.Build(ociimage.Spec{Files: files}); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestHostBinaryBringsItsLibraries(t *testing.T) {
	files, err := ociimage.HostBinary("/usr/bin/ls", "/usr/bin/ls")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range files {
		got[f.Path] = true
	}
	for _, want := range []string{"/usr/bin/ls", "/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6"} {
		if !got[want] {
			t.Errorf("missing %s in %v", want, got)
		}
	}
	static, err := ociimage.HostBinary("/bin/busybox", testenv.BusyboxBinary)
	if err != nil || len(static) != 1 {
		t.Errorf("static busybox: %v %v", static, err)
	}
}
