package node_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// A compose file as a Swarm user keeps it: a web service with an alias on a
// declared network, a client on the default network and the declared one,
// and keys a stack ignores.
const stackFile = `services:
  web:
    image: containous/whoami
    networks:
      front:
        aliases: [www]
    secrets: [db_password]
    configs:
      - source: site
        target: /etc/site.conf
    deploy:
      replicas: 2
      labels:
        tier: front
  client:
    image: xiaopeng163/net-box:latest
    command: ping web
    networks: [front, default]
    container_name: ignored
    restart: always
networks:
  front:
    attachable: true
secrets:
  db_password:
    file: ./db_password.txt
configs:
  site:
    file: ./site.conf
`

func TestStackDeployThroughTheCLI(t *testing.T) {
	mgr := startDaemon(t, "swarm-manager", filepath.Join(t.TempDir(), "m"), freePort(t))
	mgr.ok("swarm", "init", "--advertise-addr", "127.0.0.1")
	dir := t.TempDir()
	file := filepath.Join(dir, "docker-compose.yml")
	write := func(body string) {
		if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(stackFile)
	for name, body := range map[string]string{"db_password.txt": "s3cret", "site.conf": "listen 80;"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	out := mgr.ok("stack", "deploy", "-c", file, "app")
	for _, want := range []string{
		"Ignoring unsupported options: container_name, restart",
		"Creating network app_default", "Creating network app_front",
		"Creating secret app_db_password", "Creating config app_site",
		"Creating service app_client", "Creating service app_web",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("stack deploy output lacks %q:\n%s", want, out)
		}
	}
	eventually(t, 20*time.Second, func() string {
		out := mgr.ok("stack", "services", "app")
		if len(rows(out, `app_web\s+replicated\s+2/2\s+containous/whoami:latest`)) != 1 ||
			len(rows(out, `app_client\s+replicated\s+1/1\s+xiaopeng163/net-box:latest`)) != 1 {
			return "stack services app:\n" + out
		}
		return ""
	})
	if out := mgr.ok("stack", "services", "--filter", "name=app_web", "app"); len(rows(out, `app_`)) != 1 || len(rows(out, `app_web`)) != 1 {
		t.Fatalf("stack services --filter name=app_web app:\n%s", out)
	}
	if out := mgr.ok("stack", "ls"); len(rows(out, `^app\s+2$`)) != 1 || !strings.HasPrefix(out, "NAME") {
		t.Fatalf("stack ls:\n%s", out)
	}
	out = mgr.ok("service", "inspect", "app_web")
	for _, want := range []string{`"com.docker.stack.namespace": "app"`, `"com.docker.stack.image": "containous/whoami"`, `"tier": "front"`, `"www"`} {
		if !strings.Contains(out, want) {
			t.Fatalf("service inspect app_web lacks %s:\n%s", want, out)
		}
	}
	if out := mgr.ok("secret", "ls"); len(rows(out, `\sapp_db_password\s`)) != 1 {
		t.Fatalf("secret ls:\n%s", out)
	}
	if out := mgr.ok("secret", "inspect", "app_db_password"); !strings.Contains(out, `"com.docker.stack.namespace": "app"`) || strings.Contains(out, "s3cret") {
		t.Fatalf("secret inspect app_db_password:\n%s", out)
	}
	out = mgr.ok("network", "inspect", "app_front")
	if !strings.Contains(out, `"com.docker.stack.namespace": "app"`) || !strings.Contains(out, `"Attachable": true`) {
		t.Fatalf("network inspect app_front:\n%s", out)
	}

	running := func() []string {
		out := mgr.ok("stack", "ps", "--no-trunc", "app")
		var ids []string
		for _, r := range rows(out, `\sRunning\s+Running`) {
			ids = append(ids, strings.Fields(r)[0])
		}
		sort.Strings(ids)
		return ids
	}
	before := running()
	if len(before) != 3 {
		t.Fatalf("running tasks: %v", before)
	}

	// The same file again: updates in place, no task restarted.
	out = mgr.ok("stack", "deploy", "-c", file, "app")
	if strings.Contains(out, "Creating") || !strings.Contains(out, "Updating service app_web (id: ") {
		t.Fatalf("redeploy printed:\n%s", out)
	}
	time.Sleep(time.Second) // give a wrongly restarted task time to show
	if after := running(); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("redeploy restarted tasks: %v -> %v", before, after)
	}

	// A new image for web: only web's tasks are replaced.
	write(strings.Replace(stackFile, "image: containous/whoami", "image: containous/whoami:v2", 1))
	mgr.ok("stack", "deploy", "-c", file, "app")
	eventually(t, 20*time.Second, func() string {
		out := mgr.ok("stack", "ps", "app")
		if len(rows(out, `app_web\.\d\s+containous/whoami:v2\s+\S+\s+Running\s+Running`)) != 2 {
			return "stack ps app after the image change:\n" + out
		}
		return ""
	})
	clientBefore := regexp.MustCompile(`(?m)^(\S+)\s+app_client\.1\S*\s.*Running\s+Running`).FindStringSubmatch(mgr.ok("stack", "ps", "--no-trunc", "app"))
	if clientBefore == nil || !contains(before, clientBefore[1]) {
		t.Fatalf("the client's task changed with web's image: %v, before %v", clientBefore, before)
	}

	// --prune removes what left the file.
	write(strings.SplitN(stackFile, "  client:", 2)[0] + "networks:" + strings.SplitN(stackFile, "\nnetworks:", 2)[1])
	out = mgr.ok("stack", "deploy", "--prune", "-c", file, "app")
	if !strings.Contains(out, "Removing service app_client") {
		t.Fatalf("deploy --prune printed:\n%s", out)
	}
	if out := mgr.ok("service", "ls"); len(rows(out, `app_client`)) != 0 {
		t.Fatalf("service ls after --prune:\n%s", out)
	}

	// Bad input makes nothing: an external network that does not exist.
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("services:\n  x:\n    image: busybox\n    networks: [gone]\nnetworks:\n  gone:\n    external: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := mgr.minsw("stack", "deploy", "-c", bad, "other"); code != 1 || !strings.Contains(out, `network "gone" is declared as external, but could not be found`) {
		t.Fatalf("external network missing: exit %d\n%s", code, out)
	}
	if out := mgr.ok("network", "ls"); strings.Contains(out, "other_") {
		t.Fatalf("a refused deploy made a network:\n%s", out)
	}

	// A deploy that fails half-way (a published port another stack holds)
	// says which service failed and takes back what it made, including the
	// services created beside the failed one.
	clash := filepath.Join(dir, "clash.yml")
	if err := os.WriteFile(clash, []byte("services:\n  a:\n    image: busybox\n  b:\n    image: busybox\n  c:\n    image: busybox\n    ports: [\"9090:80\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mgr.ok("stack", "deploy", "-c", clash, "first")
	if out, code := mgr.minsw("stack", "deploy", "-c", clash, "second"); code != 1 || !strings.Contains(out, "failed to create service second_c: Error response from daemon: ") {
		t.Fatalf("a clashing deploy: exit %d\n%s", code, out)
	}
	if out := mgr.ok("service", "ls"); strings.Contains(out, "second_") {
		t.Fatalf("a failed deploy left services:\n%s", out)
	}
	if out := mgr.ok("network", "ls"); strings.Contains(out, "second_") {
		t.Fatalf("a failed deploy left networks:\n%s", out)
	}
	mgr.ok("stack", "rm", "--detach=false", "first")

	out = mgr.ok("stack", "rm", "--detach=false", "app")
	for _, want := range []string{"Removing service app_web", "Removing secret app_db_password", "Removing config app_site", "Removing network app_default", "Removing network app_front"} {
		if !strings.Contains(out, want) {
			t.Fatalf("stack rm output lacks %q:\n%s", want, out)
		}
	}
	if out := mgr.ok("service", "ls"); len(rows(out, `app_`)) != 0 {
		t.Fatalf("services left after stack rm:\n%s", out)
	}
	if out := mgr.ok("network", "ls"); strings.Contains(out, "app_") {
		t.Fatalf("networks left after stack rm:\n%s", out)
	}
	if out := mgr.ok("secret", "ls"); strings.Contains(out, "app_") {
		t.Fatalf("secrets left after stack rm:\n%s", out)
	}
	if out := mgr.ok("config", "ls"); strings.Contains(out, "app_") {
		t.Fatalf("configs left after stack rm:\n%s", out)
	}
	if out := mgr.ok("stack", "ls"); strings.TrimSpace(out) != "NAME      SERVICES" {
		t.Fatalf("stack ls after rm:\n%q", out)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// BenchmarkStackDeploy20Services measures `minsw stack deploy` of a
// 20-service stack (one network, fake executor, a real daemon process):
// the CLI's whole run, from reading the file to all services created. Each
// iteration deploys a new stack, so each creates its network and services.
func BenchmarkStackDeploy20Services(b *testing.B) {
	dir, err := os.MkdirTemp("", "minsw-bench-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	d := &daemon{t: b, name: "bench", dir: dir, listen: freePort(b)}
	d.start()
	defer d.kill()
	if out, code := d.minsw("swarm", "init", "--advertise-addr", "127.0.0.1"); code != 0 {
		b.Fatal(out)
	}
	var sb strings.Builder
	sb.WriteString("services:\n")
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&sb, "  svc%02d:\n    image: containous/whoami\n    deploy:\n      replicas: 2\n", i)
	}
	file := filepath.Join(dir, "compose.yml")
	if err := os.WriteFile(file, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		out, code := d.minsw("stack", "deploy", "-c", file, fmt.Sprintf("s%d", i))
		if code != 0 || strings.Count(out, "Creating service") != 20 {
			b.Fatalf("exit %d:\n%s", code, out)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/deploy")
	}
}
