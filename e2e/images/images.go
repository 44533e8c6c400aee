// Package images describes the lab's two images, made from this project's
// code and the host's Debian packages instead of Docker Hub: containous/whoami
// (the static Go server in ./whoami) and xiaopeng163/net-box (busybox plus
// curl). It builds and pushes them; it does not run a registry.
package images

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/minsw/minsw/internal/ociimage"
)

// The seed's image names, as a daemon using the lab registry as its mirror
// resolves them (docker.io/<name>:latest -> <mirror>/<name>:latest).
const (
	Whoami = "containous/whoami:latest"
	NetBox = "xiaopeng163/net-box:latest"
)

// WebV1 and WebV2 are two versions of one web app for rolling updates
// (`service update --image minsw/web:v2`): whoami with busybox beside it,
// so a health check can run wget, and VERSION in its environment.
const (
	WebV1 = "minsw/web:v1"
	WebV2 = "minsw/web:v2"
)

// Host binaries the images are made from (Debian's busybox-static and curl).
const (
	BusyboxBinary = "/bin/busybox"
	CurlBinary    = "/usr/bin/curl"
)

// BuildWhoami compiles ./whoami statically into dir and returns the binary's
// path. repo is the module's root directory.
func BuildWhoami(ctx context.Context, repo, dir string) (string, error) {
	out := filepath.Join(dir, "whoami")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./e2e/images/whoami")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build whoami: %w\n%s", err, b)
	}
	return out, nil
}

// WhoamiSpec is containous/whoami: the server alone, on port 80, as the
// original's scratch image.
func WhoamiSpec(binary string) ociimage.Spec {
	return ociimage.Spec{
		Files: []ociimage.File{
			ociimage.HostFile("/whoami", binary, 0o755),
			ociimage.Dir("/tmp", 0o1777),
			ociimage.Content("/etc/hosts", nil, 0o644),
			ociimage.Content("/etc/resolv.conf", nil, 0o644),
			ociimage.Content("/etc/hostname", nil, 0o644),
		},
		Config: ociimage.Config{Entrypoint: []string{"/whoami"}, ExposedPorts: []string{"80/tcp"}},
	}
}

// netBoxPS1 makes busybox sh print the seed's prompt, "/omd # ".
const netBoxPS1 = `PS1=\w # `

// NetBoxSpec is xiaopeng163/net-box: busybox (sh, ping, nslookup, wget, ip
// ...) plus Debian's curl with its shared libraries, working directory /omd.
func NetBoxSpec(ctx context.Context) (ociimage.Spec, error) {
	spec, err := ociimage.Busybox(ctx, BusyboxBinary)
	if err != nil {
		return ociimage.Spec{}, fmt.Errorf("net-box: busybox (apt-get install busybox-static): %w", err)
	}
	curl, err := ociimage.HostBinary("/usr/bin/curl", CurlBinary)
	if err != nil {
		return ociimage.Spec{}, fmt.Errorf("net-box: curl (apt-get install curl): %w", err)
	}
	spec.Files = append(spec.Files, curl...)
	spec.Files = append(spec.Files,
		ociimage.Dir("/omd", 0o755),
		// curl resolves through NSS: without nsswitch.conf glibc still uses
		// dns, but "files" first keeps /etc/hosts working as in the original.
		ociimage.Content("/etc/nsswitch.conf", []byte("hosts: files dns\n"), 0o644),
		// curl's TLS libraries want a CA bundle path even for http://.
		ociimage.Dir("/etc/ssl/certs", 0o755),
	)
	spec.Config.WorkingDir = "/omd"
	spec.Config.Env = append(spec.Config.Env, netBoxPS1, "HOME=/root")
	return spec, nil
}

// WebSpec is minsw/web at version: net-box's files plus whoami as the
// entrypoint, VERSION=version in the environment.
func WebSpec(ctx context.Context, whoamiBinary, version string) (ociimage.Spec, error) {
	spec, err := NetBoxSpec(ctx)
	if err != nil {
		return ociimage.Spec{}, err
	}
	spec.Files = append(spec.Files, ociimage.HostFile("/whoami", whoamiBinary, 0o755))
	spec.Config.Entrypoint = []string{"/whoami"}
	spec.Config.ExposedPorts = []string{"80/tcp"}
	spec.Config.Env = append(spec.Config.Env, "VERSION="+version)
	return spec, nil
}

// Push builds the images and pushes them to the registry at host
// ("192.168.56.5:5000"): the seed's two under their names, and minsw/web.
func Push(ctx context.Context, host, whoamiBinary string) error {
	nb, err := NetBoxSpec(ctx)
	if err != nil {
		return err
	}
	v1, err := WebSpec(ctx, whoamiBinary, "v1")
	if err != nil {
		return err
	}
	v2, err := WebSpec(ctx, whoamiBinary, "v2")
	if err != nil {
		return err
	}
	for ref, spec := range map[string]ociimage.Spec{
		host + "/" + Whoami: WhoamiSpec(whoamiBinary),
		host + "/" + NetBox: nb,
		host + "/" + WebV1:  v1,
		host + "/" + WebV2:  v2,
	} {
		if _, err := ociimage.BuildAndPush(ctx, ref, spec, ociimage.Insecure()); err != nil {
			return err
		}
	}
	return nil
}
