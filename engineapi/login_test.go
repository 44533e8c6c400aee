package engineapi_test

import (
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/minsw/minsw/internal/testenv"
)

// A private registry that wants a login: docker login checks it through
// the node (POST /auth, which was a 501), and service create
// --with-registry-auth pins the image's digest with it, through both CLIs
// (the lookup ignored the login, so the tag was kept with docker's
// warning). Without the flag the lookup is anonymous and refused.
func TestDockerLoginAndWithRegistryAuth(t *testing.T) {
	reg := httptest.NewServer(testenv.RegistryHandler(testenv.RegistryOptions{User: "alice", Password: "s3cret"}))
	defer reg.Close()
	host := reg.Listener.Addr().String()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(host+"/team/app:v1", name.Insecure)
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "alice", Password: "s3cret"})); err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Digest()

	d := startDaemon(t, "swarm-manager")
	d.initSwarm()
	login := func(password string) (string, int) {
		cmd := exec.Command("docker", "login", "-u", "alice", "--password-stdin", host)
		cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+d.dockerSock(), "DOCKER_CONFIG="+filepath.Join(d.dir, "docker-config"))
		cmd.Stdin = strings.NewReader(password + "\n")
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	out, code := login("wrong")
	if code == 0 || !strings.Contains(out, "login to "+host+" refused") {
		t.Fatalf("docker login with a wrong password: exit %d\n%s", code, out)
	}
	out, code = login("s3cret")
	if code != 0 || !strings.Contains(out, "Login Succeeded") {
		t.Fatalf("docker login: exit %d\n%s", code, out)
	}

	image := host + "/team/app:v1"
	out = d.ok("service", "create", "--detach", "--name", "priv", "--with-registry-auth", image)
	if strings.Contains(out, "could not be accessed") {
		t.Fatalf("docker warned though it sent the login:\n%s", out)
	}
	if got := strings.TrimSpace(d.ok("service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", "priv")); got != image+"@"+digest.String() {
		t.Fatalf("image %q, want %s@%s", got, image, digest)
	}
	out = d.ok("service", "create", "--detach", "--name", "anon", image)
	contains(t, out, "image "+image+" could not be accessed on a registry to record")
	if got := strings.TrimSpace(d.ok("service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", "anon")); got != image {
		t.Fatalf("image without the login %q, want the tag kept", got)
	}

	// minsw's own CLI reads the same docker config.
	cmd := exec.Command(binPath, "service", "create", "--detach", "--name", "mpriv", "--with-registry-auth", image)
	cmd.Env = append(os.Environ(), "MINSW_HOST=unix://"+filepath.Join(d.dir, "run", "minsw.sock"), "DOCKER_CONFIG="+filepath.Join(d.dir, "docker-config"))
	if b, err := cmd.CombinedOutput(); err != nil || strings.Contains(string(b), "could not be accessed") {
		t.Fatalf("minsw service create --with-registry-auth: %v\n%s", err, b)
	}
	if got := strings.TrimSpace(d.ok("service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", "mpriv")); got != image+"@"+digest.String() {
		t.Fatalf("minsw: image %q, want %s@%s", got, image, digest)
	}

	// Docker Hub logins cannot be checked: minsw never contacts Docker Hub.
	cmd = exec.Command("docker", "login", "-u", "bob", "--password-stdin")
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+d.dockerSock(), "DOCKER_CONFIG="+filepath.Join(t.TempDir(), "cfg"))
	cmd.Stdin = strings.NewReader("pw\n")
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "minsw never contacts Docker Hub") {
		t.Fatalf("docker login to Docker Hub: %v\n%s", err, b)
	}
}
