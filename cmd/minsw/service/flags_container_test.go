package service_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/cmd/minsw/internal/clitest"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// TestServiceCreateOptionsReachTheSpec: each docker option lands in the
// service spec where the executor and scheduler read it.
func TestServiceCreateOptionsReachTheSpec(t *testing.T) {
	env := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(env, []byte("# comment\nFROM_FILE=1\nBOTH=file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := clitest.Seed()
	sock := d.Serve(t)
	_, errOut, code := clitest.Run(t, sock, "", "service", "create", "-d", "--name", "opts",
		"--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN", "--dns", "10.9.9.9", "--dns-option", "timeout:2", "--dns-search", "corp.example",
		"--entrypoint", "/bin/sh -c", "--env-file", env, "-e", "BOTH=flag", "--group", "500", "--host", "db:10.0.0.9",
		"--hostname", "{{.Service.Name}}-{{.Task.Slot}}", "--init", "--read-only", "-t", "--sysctl", "net.ipv4.ip_forward=1",
		"--ulimit", "nofile=1024:2048", "--oom-score-adj", "500", "--stop-signal", "SIGUSR1", "--stop-grace-period", "3s",
		"--limit-cpu", "0.5", "--limit-memory", "64m", "--limit-pids", "42", "--reserve-cpu", "0.25", "--reserve-memory", "32MiB",
		"--generic-resource", "gpu=1", "--log-driver", "json-file", "--log-opt", "max-size=1m", "--log-opt", "max-file=3",
		"--placement-pref", "spread=node.labels.zone", "--replicas-max-per-node", "2", "--endpoint-mode", "dnsrr",
		"--isolation", "default", "--no-resolve-image", "-u", "1000:1000", "-w", "/tmp", "--container-label", "c=1", "-l", "s=1",
		"busybox", "sleep 1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	spec := d.Services[len(d.Services)-1].Spec
	ts, ct := spec.Task, spec.Task.Container
	want := &minswv1.ContainerSpec{
		Image: "busybox", Command: []string{"/bin/sh", "-c"}, Args: []string{"sleep 1"},
		Env: []string{"FROM_FILE=1", "BOTH=file", "BOTH=flag"}, Hostname: "{{.Service.Name}}-{{.Task.Slot}}",
		Dir: "/tmp", User: "1000:1000", Labels: map[string]string{"c": "1"}, Groups: []string{"500"},
		Init: true, ReadOnly: true, Tty: true, CapAdd: []string{"NET_ADMIN"}, CapDrop: []string{"CHOWN"},
		Sysctls: map[string]string{"net.ipv4.ip_forward": "1"}, Ulimits: []*minswv1.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}},
		OomScoreAdj: 500, StopSignal: "SIGUSR1", Hosts: []string{"10.0.0.9 db"},
		DnsConfig: &minswv1.DNSConfig{Nameservers: []string{"10.9.9.9"}, Search: []string{"corp.example"}, Options: []string{"timeout:2"}},
	}
	got := proto.Clone(ct).(*minswv1.ContainerSpec)
	if got.StopGracePeriod.AsDuration() != 3*time.Second {
		t.Errorf("stop grace %v", got.StopGracePeriod.AsDuration())
	}
	got.StopGracePeriod = nil
	if !proto.Equal(got, want) {
		t.Errorf("container spec\n got %v\nwant %v", got, want)
	}
	res := &minswv1.ResourceRequirements{
		Limits:       &minswv1.Resources{NanoCpus: 5e8, MemoryBytes: 64 << 20, Pids: 42},
		Reservations: &minswv1.Resources{NanoCpus: 25e7, MemoryBytes: 32 << 20, Generic: []*minswv1.GenericResource{{Kind: "gpu", Value: 1}}},
	}
	if !proto.Equal(ts.Resources, res) {
		t.Errorf("resources %v, want %v", ts.Resources, res)
	}
	if ts.LogDriver.GetName() != "json-file" || ts.LogDriver.GetOptions()["max-size"] != "1m" || ts.LogDriver.GetOptions()["max-file"] != "3" {
		t.Errorf("log driver %v", ts.LogDriver)
	}
	if p := ts.Placement; p.GetMaxReplicas() != 2 || len(p.GetPreferences()) != 1 || p.GetPreferences()[0].GetSpreadDescriptor() != "node.labels.zone" {
		t.Errorf("placement %v", p)
	}
	if spec.GetEndpoint().GetMode() != minswv1.EndpointMode_ENDPOINT_MODE_DNSRR {
		t.Errorf("endpoint %v", spec.GetEndpoint())
	}

	// service update: the --X-add/--X-rm and plain counterparts.
	_, errOut, code = clitest.Run(t, sock, "", "service", "update", "-d",
		"--cap-add", "CHOWN", "--cap-drop", "NET_ADMIN", "--dns-rm", "10.9.9.9", "--dns-add", "10.8.8.8",
		"--dns-search-add", "b.example", "--dns-option-rm", "timeout:2", "--group-add", "600", "--group-rm", "500",
		"--host-rm", "db:10.0.0.9", "--host-add", "cache:10.0.0.7", "--sysctl-rm", "net.ipv4.ip_forward", "--sysctl-add", "net.core.somaxconn=512",
		"--ulimit-add", "nofile=10:20", "--ulimit-add", "nproc=5", "--limit-memory", "128m", "--reserve-cpu", "1",
		"--generic-resource-rm", "gpu", "--placement-pref-rm", "spread=node.labels.zone", "--placement-pref-add", "spread=node.labels.rack",
		"--replicas-max-per-node", "0", "--endpoint-mode", "vip", "--init=false", "--read-only=false", "--hostname", "h",
		"--workdir", "/", "--user", "nobody", "--stop-signal", "SIGTERM", "--stop-grace-period", "1m",
		"--container-label-add", "d=2", "--container-label-rm", "c", "--entrypoint", "", "opts")
	if code != 0 {
		t.Fatalf("update exit %d: %s", code, errOut)
	}
	spec = d.Services[len(d.Services)-1].Spec
	ts, ct = spec.Task, spec.Task.Container
	checks := map[string]bool{
		"caps":       slices.Equal(ct.CapAdd, []string{"CHOWN"}) && slices.Equal(ct.CapDrop, []string{"NET_ADMIN"}),
		"dns":        slices.Equal(ct.DnsConfig.Nameservers, []string{"10.8.8.8"}) && len(ct.DnsConfig.Options) == 0 && len(ct.DnsConfig.Search) == 2,
		"groups":     slices.Equal(ct.Groups, []string{"600"}),
		"hosts":      slices.Equal(ct.Hosts, []string{"10.0.0.7 cache"}),
		"sysctls":    len(ct.Sysctls) == 1 && ct.Sysctls["net.core.somaxconn"] == "512",
		"ulimits":    len(ct.Ulimits) == 2 && ct.Ulimits[0].Soft == 10 && ct.Ulimits[1].Name == "nproc",
		"limits":     ts.Resources.Limits.MemoryBytes == 128<<20 && ts.Resources.Limits.NanoCpus == 5e8,
		"reserve":    ts.Resources.Reservations.NanoCpus == 1e9 && len(ts.Resources.Reservations.Generic) == 0,
		"prefs":      len(ts.Placement.Preferences) == 1 && ts.Placement.Preferences[0].SpreadDescriptor == "node.labels.rack",
		"max":        ts.Placement.MaxReplicas == 0,
		"endpoint":   spec.Endpoint.Mode == minswv1.EndpointMode_ENDPOINT_MODE_VIP,
		"bools":      !ct.Init && !ct.ReadOnly && ct.Tty,
		"plain":      ct.Hostname == "h" && ct.Dir == "/" && ct.User == "nobody" && ct.StopSignal == "SIGTERM" && ct.StopGracePeriod.AsDuration() == time.Minute,
		"labels":     len(ct.Labels) == 1 && ct.Labels["d"] == "2",
		"entrypoint": len(ct.Command) == 0,
	}
	for what, ok := range checks {
		if !ok {
			t.Errorf("update did not apply %s: %v", what, spec)
		}
	}
}

// TestServiceCreateBadOptions: bad input is one line and creates nothing.
func TestServiceCreateBadOptions(t *testing.T) {
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--limit-memory", "10XB"}, `invalid --limit-memory: invalid size "10XB"`},
		{[]string{"--limit-cpu", "-1"}, "must not be negative"},
		{[]string{"--reserve-cpu", "lots"}, `invalid --reserve-cpu: invalid CPU amount "lots"`},
		{[]string{"--max-concurrent", "2"}, "max-concurrent can only be used with replicated-job mode"},
		{[]string{"--mode", "global-job", "--max-concurrent", "2"}, "max-concurrent can only be used with replicated-job mode"},
		{[]string{"--isolation", "hyperv"}, "--isolation chooses a Windows isolation technology"},
		{[]string{"--credential-spec", "file://x.json"}, "--credential-spec configures a Windows managed service account"},
		{[]string{"--ulimit", "nofile"}, `invalid ulimit "nofile"`},
		{[]string{"--placement-pref", "pack=node.labels.zone"}, `unknown strategy "pack"`},
		{[]string{"--generic-resource", "gpu"}, "invalid --generic-resource"},
		{[]string{"--endpoint-mode", "round-robin"}, "must be vip or dnsrr"},
		{[]string{"--stop-signal", "SIGWHAT"}, "invalid --stop-signal"},
		{[]string{"--oom-score-adj", "-2000"}, "between -1000 and 1000"},
		{[]string{"--host", "nocolon"}, `invalid --host "nocolon"`},
		{[]string{"--env-file", "/nonexistent/env"}, "--env-file: open /nonexistent/env"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			d := clitest.Seed()
			sock := d.Serve(t)
			before := len(d.Services)
			_, errOut, code := clitest.Run(t, sock, "", append(append([]string{"service", "create", "-d"}, c.args...), "busybox")...)
			if code == 0 || !strings.Contains(errOut, c.msg) || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
				t.Errorf("exit %d, stderr %q; want one line containing %q", code, errOut, c.msg)
			}
			if len(d.Services) != before {
				t.Error("a refused create made a service")
			}
		})
	}
}
