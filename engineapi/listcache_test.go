package engineapi_test

import (
	"strings"
	"testing"
)

// GET /services answers from its cache only while the store is unchanged:
// a write through either door (minsw's gRPC, docker's API) shows in the
// very next list, replicas included.
func TestServiceListSeesEveryWrite(t *testing.T) {
	d := startDaemon(t, "swarm-manager")
	d.initSwarm()
	d.ok("service", "create", "--detach", "--name", "web", "--no-resolve-image", "containous/whoami")
	for range 3 { // the same list again and again: served from the cache
		if code, body := d.call("GET", "/v1.47/services?status=true", nil); code != 200 || !strings.Contains(body, `"Name":"web"`) {
			t.Fatalf("GET /services: %d %s", code, body)
		}
	}
	if out, code := d.minsw("service", "create", "--detach", "--name", "api", "containous/whoami"); code != 0 {
		t.Fatalf("minsw service create: %d %s", code, out)
	}
	if code, body := d.call("GET", "/v1.47/services?status=true", nil); code != 200 || !strings.Contains(body, `"Name":"api"`) {
		t.Fatalf("GET /services after minsw service create: %d %s", code, body)
	}
	d.ok("service", "scale", "--detach", "web=3")
	if out := d.ok("service", "ls", "--filter", "name=web", "--format", "{{.Name}} {{.Mode}} {{.Replicas}}"); !strings.HasPrefix(out, "web replicated ") || !strings.HasSuffix(strings.TrimSpace(out), "/3") {
		t.Fatalf("service ls after scale: %q", out)
	}
	if out, code := d.minsw("service", "rm", "api"); code != 0 {
		t.Fatalf("minsw service rm: %d %s", code, out)
	}
	if out := d.ok("service", "ls", "--format", "{{.Name}}"); strings.TrimSpace(out) != "web" {
		t.Fatalf("service ls after rm api: %q", out)
	}
}
