package node_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// TestImageResolutionContainerd checks docker's --no-resolve-image meaning
// with the registry on loopback: by default service create (minsw's CLI and
// docker's, through the Engine API) and service update --image pin the tag
// to the digest the registry holds, so every node runs that image; with
// --no-resolve-image the tag is kept and each node pulls it. Pinned and
// unpinned tasks both run.
func TestImageResolutionContainerd(t *testing.T) {
	c := startContainerdNode(t, "minsw-pintest")
	want := "busybox:latest@" + manifestDigest(t, c.reg.URL, "library/busybox", "latest")

	minsw := func(args ...string) (string, string) {
		t.Helper()
		cmd := exec.Command(binPath, append([]string{"--host", "unix://" + c.n.SocketPath()}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("minsw %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
		}
		return out.String(), errb.String()
	}
	docker := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "docker", args...)
		cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+filepath.Join(c.execRoot, "docker.sock"), "DOCKER_CONFIG="+filepath.Join(c.dir, "docker-config"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	image := func(svc string) string {
		t.Helper()
		out, _ := minsw("service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", svc)
		return strings.TrimSpace(out)
	}

	_, stderr := minsw("service", "create", "-d", "--name", "pinned", "busybox", "sleep", "3600")
	if strings.Contains(stderr, "could not be accessed") {
		t.Errorf("service create warned: %s", stderr)
	}
	minsw("service", "create", "-d", "--name", "tagged", "--no-resolve-image", "busybox", "sleep", "3600")
	if got := image("pinned"); got != want {
		t.Errorf("service inspect pinned: image %q, want %q", got, want)
	}
	if got := image("tagged"); got != "busybox:latest" {
		t.Errorf("service inspect tagged (--no-resolve-image): image %q, want busybox:latest", got)
	}
	t.Logf("pinned: %s  tagged: %s", image("pinned"), image("tagged"))

	if _, err := exec.LookPath("docker"); err == nil {
		docker("service", "create", "--detach", "--name", "viadocker", "busybox", "sleep", "3600")
		got := strings.TrimSpace(docker("service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", "viadocker"))
		if got != want {
			t.Errorf("docker service create: image %q, want %q", got, want)
		}
		t.Logf("docker service create viadocker: %s", got)
	} else {
		t.Error("the docker CLI is not on PATH (scripts/deps.sh installs Debian's docker.io)")
	}

	// Both kinds of reference pull and run through the node's mirror.
	if !within(90*time.Second, func() bool {
		r, err := c.cl.Control.ListTasks(c.ctx, &minswv1.ListTasksRequest{})
		if err != nil {
			return false
		}
		up := map[string]bool{}
		for _, tk := range r.GetTasks() {
			if tk.GetStatus().GetState() == minswv1.TaskState_TASK_STATE_RUNNING {
				up[tk.GetServiceName()] = true
			}
		}
		return up["pinned"] && up["tagged"] && up["viadocker"]
	}) {
		out, _ := minsw("service", "ps", "--no-trunc", "pinned", "tagged", "viadocker")
		t.Fatalf("not all running:\n%s", out)
	}
	// The tables show the tag, as docker's do.
	out, _ := minsw("service", "ls")
	if strings.Count(out, "busybox:latest") != 3 || strings.Contains(out, "sha256:") {
		t.Errorf("service ls:\n%s", out)
	}
	t.Logf("minsw service ls:\n%s", out)
	if out, _ := minsw("container", "ls"); strings.Count(out, "busybox:latest ") != 3 || strings.Contains(out, "sha256:") {
		t.Errorf("container ls shows the digest, or not the tag:\n%s", out)
	}
	if out, _ := minsw("container", "ls", "--no-trunc"); strings.Count(out, want) != 2 {
		t.Errorf("container ls --no-trunc does not show the two pinned images:\n%s", out)
	}
	if out, _ := minsw("container", "ls", "-q", "--filter", "ancestor=busybox"); strings.Count(out, "\n") != 3 {
		t.Errorf("container ls --filter ancestor=busybox does not list the three tasks:\n%s", out)
	}

	// update --image pins the new reference; with the flag it stays a tag.
	minsw("service", "update", "-d", "--image", "busybox:latest", "tagged")
	if got := image("tagged"); got != want {
		t.Errorf("service update --image: image %q, want %q", got, want)
	}
	minsw("service", "update", "-d", "--image", "busybox:latest", "--no-resolve-image", "pinned")
	if got := image("pinned"); got != "busybox:latest" {
		t.Errorf("service update --image --no-resolve-image: image %q, want busybox:latest", got)
	}
}

// manifestDigest asks the registry at url what repo:tag names, as docker's
// registry client would.
func manifestDigest(t *testing.T, url, repo, tag string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodHead, url+"/v2/"+repo+"/manifests/"+tag, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", strings.Join([]string{
		"application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
		"application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json",
	}, ", "))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	d := resp.Header.Get("Docker-Content-Digest")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(d, "sha256:") {
		t.Fatalf("HEAD %s: %s, digest %q", req.URL, resp.Status, d)
	}
	return d
}
