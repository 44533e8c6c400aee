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
	// Each stack has its own networks: name them instead of their IDs.
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

	byDocker, byMinsw := stackSpecs(t, d, "viadocker"), stackSpecs(t, d, "viaminsw")
	for name, ds := range byDocker {
		ms, ok := byMinsw[name]
		if !ok {
			t.Errorf("service %s: docker's stack has it, minsw's does not", name)
			continue
		}
		// The namespace is in the labels and in network targets: normalise.
		dj, _ := json.Marshal(ds)
		mj, _ := json.Marshal(ms)
		dn := strings.ReplaceAll(string(dj), "viadocker", "NS")
		mn := strings.ReplaceAll(string(mj), "viaminsw", "NS")
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
