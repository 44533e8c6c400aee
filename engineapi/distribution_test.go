package engineapi_test

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/minsw/minsw/internal/testenv"
)

// docker service create pins the image's digest, looked up through the
// node's registry mirror as dockerd does; a node without one makes docker
// print its usual warning and go on.
func TestDockerServiceCreateResolvesTheDigest(t *testing.T) {
	reg, err := testenv.StartRegistry(testenv.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(reg.Host+"/containous/whoami:latest", name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Digest()

	d := startDaemon(t, "swarm-manager", "--registry-mirror", reg.URL)
	d.initSwarm()
	out := d.ok("service", "create", "--detach", "--name", "pinned", "containous/whoami")
	if strings.Contains(out, "could not be accessed on a registry") {
		t.Fatalf("docker warned though the mirror has the image:\n%s", out)
	}
	img1 := strings.TrimSpace(d.ok("service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", "pinned"))
	if img1 != "containous/whoami:latest@"+digest.String() {
		t.Fatalf("service image %q, want containous/whoami:latest@%s", img1, digest)
	}
	code, body := d.call("GET", "/v1.47/distribution/containous/whoami:latest/json", nil)
	if code != 200 || !strings.Contains(body, `"digest":"`+digest.String()+`"`) {
		t.Fatalf("GET /distribution: %d %s", code, body)
	}
	// An image the registry lacks: docker warns and goes on, as with dockerd.
	out = d.ok("service", "create", "--detach", "--name", "unpinned", "containous/nosuch")
	if !strings.Contains(out, "image containous/nosuch:latest could not be accessed on a registry to record") {
		t.Fatalf("no warning for an image the registry lacks:\n%s", out)
	}
	if img := strings.TrimSpace(d.ok("service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", "unpinned")); img != "containous/nosuch:latest" {
		t.Fatalf("unpinned image %q", img)
	}
}
