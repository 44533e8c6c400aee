package engineapi_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The stack file both CLIs deploy: two services, a declared network with an
// alias, ports, a health check, an update policy and placement.
const crossStack = `services:
  web:
    image: containous/whoami:latest
    ports: ["80"]
    networks:
      front:
        aliases: [www]
    healthcheck:
      test: ["CMD", "true"]
      interval: 5s
    deploy:
      replicas: 2
      labels: {tier: front}
      update_config: {parallelism: 1, delay: 2s, order: start-first, failure_action: rollback}
      restart_policy: {condition: on-failure, max_attempts: 3}
      placement:
        constraints: [node.role==manager]
  client:
    image: xiaopeng163/net-box:latest
    command: ["ping", "web"]
    environment: {MODE: test}
networks:
  front:
    attachable: true
`

// minsw runs the minsw CLI against d's own socket.
func (d *daemon) minsw(args ...string) (string, int) {
	d.t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(os.Environ(), "MINSW_HOST=unix://"+filepath.Join(d.dir, "run", "minsw.sock"))
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		d.t.Fatalf("running minsw %v: %v", args, err)
	}
	return string(out), code
}

// stackSpecs is every service of a stack as `docker service inspect` shows
// its spec, by service name, with the parts that differ between any two
// deploys (none should) left in.
func stackSpecs(t *testing.T, d *daemon, ns string) map[string]map[string]any {
	t.Helper()
	ids := strings.Fields(d.ok("service", "ls", "-q", "--filter", "label=com.docker.stack.namespace="+ns))
	if len(ids) == 0 {
		t.Fatalf("no service in stack %s", ns)
	}
	out := d.ok(append([]string{"service", "inspect", "--format", "{{json .Spec}}"}, ids...)...)
	// Each stack has its own networks, secrets and configs: name them
	// instead of their IDs.
	for _, kind := range []string{"network", "secret", "config"} {
		for _, l := range strings.Split(strings.TrimSpace(d.ok(kind, "ls", "--format", "{{.ID}} {{.Name}}")), "\n") {
			if id, name, ok := strings.Cut(l, " "); ok && len(id) == 25 {
				out = strings.ReplaceAll(out, `"`+id+`"`, `"`+name+`"`)
			}
		}
	}
	for _, l := range strings.Split(strings.TrimSpace(d.ok("network", "ls", "--no-trunc", "--format", "{{.ID}} {{.Name}}")), "\n") {
		if id, name, ok := strings.Cut(l, " "); ok {
			out = strings.ReplaceAll(out, `"`+id+`"`, `"`+name+`"`)
		}
	}
	specs := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var spec map[string]any
		if err := json.Unmarshal([]byte(line), &spec); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		name := strings.TrimPrefix(spec["Name"].(string), ns+"_")
		spec["Name"] = name
		specs[name] = spec
	}
	return specs
}

// compareStacks fails t for every service whose spec differs between the
// two stacks (the namespace and network IDs normalised).
func compareStacks(t *testing.T, d *daemon, nsDocker, nsMinsw string) {
	t.Helper()
	byDocker, byMinsw := stackSpecs(t, d, nsDocker), stackSpecs(t, d, nsMinsw)
	for name, ds := range byDocker {
		ms, ok := byMinsw[name]
		if !ok {
			t.Errorf("service %s: docker's stack has it, minsw's does not", name)
			continue
		}
		dj, _ := json.Marshal(ds)
		mj, _ := json.Marshal(ms)
		dn := strings.ReplaceAll(string(dj), nsDocker, "NS")
		mn := strings.ReplaceAll(string(mj), nsMinsw, "NS")
		var dv, mv any
		json.Unmarshal([]byte(dn), &dv)
		json.Unmarshal([]byte(mn), &mv)
		if !reflect.DeepEqual(dv, mv) {
			t.Errorf("service %s differs:\ndocker: %s\nminsw:  %s", name, dn, mn)
		}
	}
	if len(byMinsw) != len(byDocker) {
		t.Errorf("docker's stack has %d services, minsw's %d", len(byDocker), len(byMinsw))
	}
}

// TestEveryComposeKeyTheSameThroughBothCLIs deploys the stack package's
// file that sets every key a stack maps (deploy section, mounts, secrets,
// configs, health check, container options, job and global modes, dnsrr)
// with both CLIs and compares what the daemon stored.
func TestEveryComposeKeyTheSameThroughBothCLIs(t *testing.T) {
	d := startDaemon(t, "swarm-manager")
	d.initSwarm()
	dir := t.TempDir()
	for _, f := range []string{"full.yml", "web.env", "db_password.txt", "nginx.conf"} {
		b, err := os.ReadFile(filepath.Join("..", "stack", "testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		// Published ports would clash between the two stacks.
		b = []byte(strings.NewReplacer(`"8080:80"`, `"80"`, "published: 5353", "").Replace(string(b)))
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d.ok("network", "create", "-d", "overlay", "outside")
	if out, code := d.minsw("secret", "create", "api_key", filepath.Join(dir, "nginx.conf")); code != 0 {
		t.Fatalf("secret create: %s", out)
	}
	// Two subnets cannot overlap either: minsw's copy asks for another.
	full, _ := os.ReadFile(filepath.Join(dir, "full.yml"))
	other := filepath.Join(dir, "full-minsw.yml")
	if err := os.WriteFile(other, []byte(strings.Replace(string(full), "10.20.0.0/24", "10.21.0.0/24", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out := d.ok("stack", "deploy", "--detach=true", "--resolve-image", "never", "-c", filepath.Join(dir, "full.yml"), "viadocker")
	contains(t, out, "Creating service viadocker_web")
	if out, code := d.minsw("stack", "deploy", "-c", other, "viaminsw"); code != 0 {
		t.Fatalf("minsw stack deploy: exit %d\n%s", code, out)
	}
	compareStacks(t, d, "viadocker", "viaminsw")
}

// TestDockerAndMinswStacksAreTheSame deploys one compose file with `docker
// stack deploy` and with `minsw stack deploy` (as two stacks on one swarm)
// and compares the services' specs field by field; then each CLI lists and
// removes the stack the other made.
func TestDockerAndMinswStacksAreTheSame(t *testing.T) {
	d := startDaemon(t, "swarm-manager")
	d.initSwarm()
	file := filepath.Join(d.dir, "docker-compose.yml")
	if err := os.WriteFile(file, []byte(crossStack), 0o644); err != nil {
		t.Fatal(err)
	}

	out := d.ok("stack", "deploy", "--detach=true", "--resolve-image", "never", "-c", file, "viadocker")
	contains(t, out, "Creating network viadocker_front", "Creating service viadocker_web", "Creating service viadocker_client")
	if out, code := d.minsw("stack", "deploy", "-c", file, "viaminsw"); code != 0 {
		t.Fatalf("minsw stack deploy: exit %d\n%s", code, out)
	}

	compareStacks(t, d, "viadocker", "viaminsw")

	// Each lists the other's: the same objects, the same labels.
	ls := d.ok("stack", "ls")
	matches(t, ls, `(?m)^viadocker\s+2`, `(?m)^viaminsw\s+2`)
	if out, _ := d.minsw("stack", "ls"); !strings.Contains(out, "viadocker") || !strings.Contains(out, "viaminsw") {
		t.Fatalf("minsw stack ls:\n%s", out)
	}
	matches(t, d.ok("stack", "services", "viaminsw"), `viaminsw_web\s+replicated\s+\d/2\s+containous/whoami:latest\s+\*:\d+->80/tcp`)
	if out, code := d.minsw("stack", "services", "viadocker"); code != 0 || !strings.Contains(out, "viadocker_client") {
		t.Fatalf("minsw stack services viadocker: exit %d\n%s", code, out)
	}

	// Each removes the other's, leaving nothing.
	if out, code := d.minsw("stack", "rm", "--detach=false", "viadocker"); code != 0 {
		t.Fatalf("minsw stack rm viadocker: exit %d\n%s", code, out)
	}
	out = d.ok("stack", "rm", "viaminsw")
	contains(t, out, "Removing service viaminsw_web", "Removing network viaminsw_front")
	eventually(t, 60*1e9, func() string {
		if out := d.ok("service", "ls", "-q"); strings.TrimSpace(out) != "" {
			return "services left: " + out
		}
		if out := d.ok("network", "ls", "--filter", "label=com.docker.stack.namespace", "-q"); strings.TrimSpace(out) != "" {
			return "stack networks left: " + out
		}
		return ""
	})
}
