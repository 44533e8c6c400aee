package ociimage

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path"
	"strings"
)

// DefaultPath is the PATH a busybox image's config sets.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// BusyboxFiles describes a busybox root filesystem made from a statically
// linked busybox on the host (Debian's busybox-static installs /bin/busybox):
// the binary at /bin/busybox, one symlink per applet where the binary says it
// belongs (busybox --list-full), and the few files a shell expects (/etc/passwd,
// /etc/group, /tmp, /root, and empty /etc/hosts, /etc/resolv.conf and
// /etc/hostname for the runtime to mount over).
func BusyboxFiles(ctx context.Context, busybox string) ([]File, error) {
	out, err := exec.CommandContext(ctx, busybox, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("list applets of %s: %w", busybox, err)
	}
	files := []File{
		HostFile("/bin/busybox", busybox, 0o755),
		Dir("/tmp", 0o1777),
		Dir("/root", 0o700),
		Dir("/proc", 0o555),
		Dir("/sys", 0o555),
		Dir("/dev", 0o755),
		Dir("/var/run", 0o755),
		Content("/etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"), 0o644),
		Content("/etc/group", []byte("root:x:0:\nnogroup:x:65534:\n"), 0o644),
		Content("/etc/hosts", nil, 0o644),
		Content("/etc/resolv.conf", nil, 0o644),
		Content("/etc/hostname", nil, 0o644),
	}
	n := 0
	for _, line := range strings.Split(string(bytes.TrimSpace(out)), "\n") {
		p := "/" + strings.TrimSpace(line)
		if p == "/" || p == "/bin/busybox" {
			continue
		}
		rel, err := relTarget(p, "/bin/busybox")
		if err != nil {
			return nil, err
		}
		files = append(files, Symlink(p, rel))
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%s: %w", busybox, errNoApplets)
	}
	return files, nil
}

// Busybox describes a busybox image whose default command is sh, like
// Docker Hub's busybox.
func Busybox(ctx context.Context, busybox string) (Spec, error) {
	files, err := BusyboxFiles(ctx, busybox)
	if err != nil {
		return Spec{}, err
	}
	return Spec{
		Files:  files,
		Config: Config{Cmd: []string{"sh"}, Env: []string{DefaultPath}},
	}, nil
}

// relTarget gives target relative to the directory of link, so that the
// symlink also resolves when the root filesystem is inspected from outside.
func relTarget(link, target string) (string, error) {
	from := strings.Split(strings.Trim(path.Dir(link), "/"), "/")
	to := strings.Split(strings.Trim(target, "/"), "/")
	if from[0] == "" {
		from = nil
	}
	i := 0
	for i < len(from) && i < len(to)-1 && from[i] == to[i] {
		i++
	}
	parts := make([]string, 0, len(from)-i+len(to)-i)
	for range from[i:] {
		parts = append(parts, "..")
	}
	parts = append(parts, to[i:]...)
	return path.Join(parts...), nil
}
