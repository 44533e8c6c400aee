package engineapi_test

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

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
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(reg.Host+"/containous/whoami:latest", name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Digest()
	// An image built for another OS only.
	other, _ := random.Image(64, 1)
	ocf, _ := other.ConfigFile()
	ocf.OS, ocf.Architecture = "windows", "amd64"
	if other, err = mutate.ConfigFile(other, ocf); err != nil {
		t.Fatal(err)
	}
	oref, _ := name.ParseReference(reg.Host+"/team/winapp:latest", name.Insecure)
	if err := remote.Write(oref, other); err != nil {
		t.Fatal(err)
	}

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
	if code != 200 || !strings.Contains(body, `"digest":"`+digest.String()+`"`) || !strings.Contains(body, `"Platforms":[{"architecture":"`+runtime.GOARCH+`","os":"linux"}]`) {
		t.Fatalf("GET /distribution: %d %s", code, body)
	}
	// docker's CLI makes them the service's placement platforms, and the
	// scheduler places by them: the task runs on this linux node, and an
	// image built for windows only is not placed, with swarmkit's reason.
	if got := strings.TrimSpace(d.ok("service", "inspect", "--format", "{{range .Spec.TaskTemplate.Placement.Platforms}}{{.OS}}/{{.Architecture}}{{end}}", "pinned")); got != "linux/"+runtime.GOARCH {
		t.Fatalf("placement platforms %q", got)
	}
	// minsw's CLI pins and places the same way.
	if out, code := d.minsw("service", "create", "--detach", "--name", "mpinned", "containous/whoami"); code != 0 {
		t.Fatalf("minsw service create: exit %d\n%s", code, out)
	}
	if got := strings.TrimSpace(d.ok("service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}} {{range .Spec.TaskTemplate.Placement.Platforms}}{{.OS}}/{{.Architecture}}{{end}}", "mpinned")); got != "containous/whoami:latest@"+digest.String()+" linux/"+runtime.GOARCH {
		t.Fatalf("minsw's service: %q", got)
	}
	d.ok("service", "create", "--detach", "--name", "win", "team/winapp")
	eventually(t, 30*time.Second, func() string {
		out := d.ok("service", "ps", "--no-trunc", "--format", "{{.Name}} {{.CurrentState}} {{.Error}}", "pinned", "win")
		if !regexp.MustCompile(`(?m)^pinned\.1 Running`).MatchString(out) || !strings.Contains(out, "no suitable node (unsupported platform on 1 node)") {
			return "want pinned running and win unplaced for its platform:\n" + out
		}
		return ""
	})
	// An image the registry lacks: docker warns and goes on, as with dockerd.
	out = d.ok("service", "create", "--detach", "--name", "unpinned", "containous/nosuch")
	if !strings.Contains(out, "image containous/nosuch:latest could not be accessed on a registry to record") {
		t.Fatalf("no warning for an image the registry lacks:\n%s", out)
	}
	if img := strings.TrimSpace(d.ok("service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", "unpinned")); img != "containous/nosuch:latest" {
		t.Fatalf("unpinned image %q", img)
	}
}

// minsw stack deploy resolves images as docker stack deploy does
// (--resolve-image always by default; it accepted the flag and looked
// nothing up): both pin the same digest and platforms, and redeploying the
// file, resolving or not, updates nothing.
func TestStackDeployResolvesImagesAsDockers(t *testing.T) {
	reg, err := testenv.StartRegistry(testenv.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	img, _ := random.Image(64, 1)
	cf, _ := img.ConfigFile()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
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
	file := filepath.Join(t.TempDir(), "compose.yml")
	if err := os.WriteFile(file, []byte("services:\n  web:\n    image: containous/whoami\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.ok("stack", "deploy", "-c", file, "dk")
	if out, code := d.minsw("stack", "deploy", "-c", file, "ms"); code != 0 {
		t.Fatalf("minsw stack deploy: exit %d\n%s", code, out)
	}
	want := "containous/whoami:latest@" + digest.String() + " linux/" + runtime.GOARCH
	format := "{{.Spec.TaskTemplate.ContainerSpec.Image}} {{range .Spec.TaskTemplate.Placement.Platforms}}{{.OS}}/{{.Architecture}}{{end}}"
	for _, svc := range []string{"dk_web", "ms_web"} {
		if got := strings.TrimSpace(d.ok("service", "inspect", "--format", format, svc)); got != want {
			t.Fatalf("%s: %q, want %q", svc, got, want)
		}
	}
	tasks := d.ok("service", "ps", "-q", "--filter", "desired-state=running", "ms_web")
	for _, mode := range []string{"always", "changed", "never"} {
		if out, code := d.minsw("stack", "deploy", "--resolve-image", mode, "-c", file, "ms"); code != 0 {
			t.Fatalf("minsw stack deploy --resolve-image %s: exit %d\n%s", mode, code, out)
		}
		if got := strings.TrimSpace(d.ok("service", "inspect", "--format", format, "ms_web")); got != want {
			t.Fatalf("after a redeploy with --resolve-image %s: %q, want %q", mode, got, want)
		}
	}
	// Like docker's, a redeploy updates the service with the same spec:
	// its task goes on, none is replaced.
	if after := d.ok("service", "ps", "-q", "--filter", "desired-state=running", "ms_web"); after != tasks {
		t.Fatalf("a redeploy replaced the task: %q, then %q", tasks, after)
	}
}
