package stack

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"

	"github.com/minsw/minsw/internal/errdefs"
)

func loadFull(t *testing.T, env ...string) *Stack {
	t.Helper()
	p, err := Load(context.Background(), "app", []string{"testdata/full.yml"}, env)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	st, err := Convert(p, os.ReadFile)
	if err != nil {
		t.Fatalf("Convert: %v", err)
	}
	return st
}

func service(t *testing.T, st *Stack, name string) swarm.ServiceSpec {
	t.Helper()
	for _, s := range st.Services {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no service %s in %d services", name, len(st.Services))
	return swarm.ServiceSpec{}
}

func TestEveryKeyOfAFullFileMapsAsDockersStackDeploy(t *testing.T) {
	st := loadFull(t)
	web := service(t, st, "app_web")
	cs := web.TaskTemplate.ContainerSpec
	abs, _ := filepath.Abs("testdata")
	u64 := func(v uint64) *uint64 { return &v }
	dur := func(d time.Duration) *time.Duration { return &d }

	checks := []struct {
		name      string
		got, want any
	}{
		{"service labels carry the namespace, the image and deploy.labels", web.Labels, map[string]string{NamespaceLabel: "app", ImageLabel: "containous/whoami", "com.example.team": "web"}},
		{"container labels carry the namespace and labels:", cs.Labels, map[string]string{NamespaceLabel: "app", "tier": "front"}},
		{"entrypoint becomes Command", cs.Command, []string{"/whoami"}},
		{"command becomes Args", cs.Args, []string{"--port", "8080"}},
		{"environment with its default, env_file, and a bare name", cs.Env, []string{"EMPTY", "FROM_FILE=yes", "GREETING=hello"}},
		{"user", cs.User, "1000:1000"},
		{"working_dir", cs.Dir, "/srv"},
		{"hostname", cs.Hostname, "web-host"},
		{"cap_add, with docker's CAP_ prefix", cs.CapabilityAdd, []string{"CAP_NET_ADMIN"}},
		{"cap_drop", cs.CapabilityDrop, []string{"CAP_MKNOD"}},
		{"sysctls", cs.Sysctls, map[string]string{"net.core.somaxconn": "1024"}},
		{"ulimits, single and soft/hard", len(cs.Ulimits), 2},
		{"init", cs.Init != nil && *cs.Init, true},
		{"read_only", cs.ReadOnly, true},
		{"tty", cs.TTY, true},
		{"stop_grace_period", cs.StopGracePeriod, dur(20 * time.Second)},
		{"stop_signal", cs.StopSignal, "SIGQUIT"},
		{"dns", cs.DNSConfig.Nameservers, []string{"10.0.0.2"}},
		{"dns_search", cs.DNSConfig.Search, []string{"example.internal"}},
		{"extra_hosts as hosts lines", cs.Hosts, []string{"10.0.0.9 db.local"}},
		{"healthcheck test", cs.Healthcheck.Test, []string{"CMD", "wget", "-q", "-O-", "http://localhost:80/"}},
		{"healthcheck timing", []time.Duration{cs.Healthcheck.Interval, cs.Healthcheck.Timeout, cs.Healthcheck.StartPeriod}, []time.Duration{5 * time.Second, 2 * time.Second, 10 * time.Second}},
		{"healthcheck retries", cs.Healthcheck.Retries, 3},
		{"logging", *web.TaskTemplate.LogDriver, swarm.Driver{Name: "json-file", Options: map[string]string{"max-size": "10m"}}},
		{"replicas", *web.Mode.Replicated.Replicas, uint64(4)},
		{"endpoint mode vip", web.EndpointSpec.Mode, swarm.ResolutionModeVIP},
		{"ports, short and long syntax, in the file's order", web.EndpointSpec.Ports, []swarm.PortConfig{
			{TargetPort: 80, PublishedPort: 8080, Protocol: swarm.PortConfigProtocolTCP, PublishMode: swarm.PortConfigPublishModeIngress},
			{TargetPort: 53, PublishedPort: 5353, Protocol: swarm.PortConfigProtocolUDP, PublishMode: swarm.PortConfigPublishModeHost},
		}},
		{"constraints", web.TaskTemplate.Placement.Constraints, []string{"node.role==worker"}},
		{"preferences", web.TaskTemplate.Placement.Preferences, []swarm.PlacementPreference{{Spread: &swarm.SpreadOver{SpreadDescriptor: "node.labels.zone"}}}},
		{"max_replicas_per_node", web.TaskTemplate.Placement.MaxReplicas, uint64(2)},
		{"limits", *web.TaskTemplate.Resources.Limits, swarm.Limit{NanoCPUs: 500000000, MemoryBytes: 64 << 20, Pids: 100}},
		{"reservations", [2]int64{web.TaskTemplate.Resources.Reservations.NanoCPUs, web.TaskTemplate.Resources.Reservations.MemoryBytes}, [2]int64{250000000, 32 << 20}},
		{"restart_policy wins over restart:", *web.TaskTemplate.RestartPolicy, swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure, Delay: dur(5 * time.Second), MaxAttempts: u64(3), Window: dur(2 * time.Minute)}},
		{"update_config", *web.UpdateConfig, swarm.UpdateConfig{Parallelism: 2, Delay: 10 * time.Second, FailureAction: "rollback", Monitor: 5 * time.Second, MaxFailureRatio: 0.1, Order: "start-first"}},
		{"rollback_config, parallelism defaulting to 1", *web.RollbackConfig, swarm.UpdateConfig{Parallelism: 1, Order: "stop-first"}},
		{"networks with the service name as alias, sorted by target", web.TaskTemplate.Networks, []swarm.NetworkAttachmentConfig{
			{Target: "app_back", Aliases: []string{"web"}},
			{Target: "app_front", Aliases: []string{"www", "web"}},
		}},
		{"named volume scoped to the stack", web.TaskTemplate.ContainerSpec.Mounts[0], mount.Mount{Type: mount.TypeVolume, Source: "app_data", Target: "/data",
			VolumeOptions: &mount.VolumeOptions{Labels: map[string]string{NamespaceLabel: "app", "backup": "daily"}}}},
		{"bind with its path resolved", web.TaskTemplate.ContainerSpec.Mounts[1], mount.Mount{Type: mount.TypeBind, Source: filepath.Join(abs, "html"), Target: "/html", ReadOnly: true}},
		{"tmpfs", web.TaskTemplate.ContainerSpec.Mounts[2], mount.Mount{Type: mount.TypeTmpfs, Target: "/cache", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1048576}}},
		{"a secret by its short form", *cs.Secrets[1], swarm.SecretReference{SecretName: "app_db_password", File: &swarm.SecretReferenceFileTarget{Name: "db_password", UID: "0", GID: "0", Mode: 0o444}}},
		{"an external secret with target, uid, gid and mode, sorted first by name", *cs.Secrets[0], swarm.SecretReference{SecretName: "api_key", File: &swarm.SecretReferenceFileTarget{Name: "api.key", UID: "101", GID: "102", Mode: 0o400}}},
		{"a config at its target", *cs.Configs[0], swarm.ConfigReference{ConfigName: "app_nginx_conf", File: &swarm.ConfigReferenceFileTarget{Name: "/etc/nginx/nginx.conf", UID: "0", GID: "0", Mode: 0o444}}},
		{"keys a stack ignores", st.Unsupported, []string{"build", "container_name", "depends_on", "restart"}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", c.name, c.got, c.want)
		}
	}

	worker := service(t, st, "app_worker")
	if worker.Mode.Global == nil {
		t.Errorf("worker: mode global not mapped: %+v", worker.Mode)
	}
	if worker.EndpointSpec == nil || worker.EndpointSpec.Mode != swarm.ResolutionModeDNSRR {
		t.Errorf("worker: endpoint_mode dnsrr not mapped: %+v", worker.EndpointSpec)
	}
	if rp := worker.TaskTemplate.RestartPolicy; rp == nil || rp.Condition != swarm.RestartPolicyConditionOnFailure || rp.MaxAttempts == nil || *rp.MaxAttempts != 3 {
		t.Errorf("worker: restart: on-failure:3 not mapped as docker's: %+v", rp)
	}
	if got := worker.TaskTemplate.Networks; len(got) != 1 || got[0].Target != "app_default" {
		t.Errorf("worker: a service without networks: joins <stack>_default, got %+v", got)
	}
	if got := worker.TaskTemplate.ContainerSpec.Args; !reflect.DeepEqual(got, []string{"sleep", "1000"}) {
		t.Errorf("worker: a string command is split as a shell would: %q", got)
	}
	job := service(t, st, "app_job")
	if j := job.Mode.ReplicatedJob; j == nil || *j.TotalCompletions != 3 || *j.MaxConcurrent != 3 {
		t.Errorf("job: replicated-job with replicas 3: %+v", job.Mode)
	}

	wantNets := map[string]bool{"app_front": false, "app_back": false, "app_default": false, "outside": true}
	if len(st.Networks) != len(wantNets) {
		t.Errorf("networks: got %d, want %d: %+v", len(st.Networks), len(wantNets), st.Networks)
	}
	for _, n := range st.Networks {
		ext, ok := wantNets[n.Name]
		if !ok || ext != n.External {
			t.Errorf("network %s: external=%v, unexpected", n.Name, n.External)
			continue
		}
		if ext {
			continue
		}
		if n.Create.Driver != "overlay" || n.Create.Labels[NamespaceLabel] != "app" {
			t.Errorf("network %s: driver %q labels %v: want overlay with the namespace label", n.Name, n.Create.Driver, n.Create.Labels)
		}
		if n.Name == "app_front" && (!n.Create.Attachable || n.Create.IPAM == nil || n.Create.IPAM.Config[0].Subnet != "10.20.0.0/24" || n.Create.Labels["purpose"] != "public") {
			t.Errorf("app_front: attachable, subnet and labels not mapped: %+v", n.Create)
		}
	}
	if len(st.Secrets) != 2 || st.Secrets[0].Name != "api_key" || !st.Secrets[0].External ||
		st.Secrets[1].Name != "app_db_password" || string(st.Secrets[1].Data) != "s3cret\n" || st.Secrets[1].Labels[NamespaceLabel] != "app" {
		t.Errorf("secrets: %+v", st.Secrets)
	}
	if len(st.Configs) != 1 || st.Configs[0].Name != "app_nginx_conf" || string(st.Configs[0].Data) != "events {}\n" {
		t.Errorf("configs: %+v", st.Configs)
	}
}

func TestInterpolationTakesTheEnvironment(t *testing.T) {
	st := loadFull(t, "GREETING=bonjour")
	env := service(t, st, "app_web").TaskTemplate.ContainerSpec.Env
	if !reflect.DeepEqual(env, []string{"EMPTY", "FROM_FILE=yes", "GREETING=bonjour"}) {
		t.Errorf("env: %q", env)
	}
}

func TestSeveralFilesMergeInOrder(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("a.yml", "services:\n  web:\n    image: nginx:1\n    deploy:\n      replicas: 2\n")
	b := write("b.yml", "services:\n  web:\n    image: nginx:2\n")
	p, err := Load(context.Background(), "s", []string{a, b}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Convert(p, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	web := service(t, st, "s_web")
	if web.TaskTemplate.ContainerSpec.Image != "nginx:2" || *web.Mode.Replicated.Replicas != 2 {
		t.Errorf("merge: image %s replicas %d", web.TaskTemplate.ContainerSpec.Image, *web.Mode.Replicated.Replicas)
	}
}

func TestBadFilesAreRefusedWithOneClearLine(t *testing.T) {
	cases := []struct {
		name, stack, body, want string
	}{
		{"a file that does not parse names line and column", "s", "services:\n  web:\n    image: [nginx\n", "line"},
		{"an unknown top-level key", "s", "services:\n  web:\n    image: nginx\nfrobnicate: 1\n", "frobnicate"},
		{"an undefined network", "s", "services:\n  web:\n    image: nginx\n    networks: [nowhere]\n", "nowhere"},
		{"an undefined secret", "s", "services:\n  web:\n    image: nginx\n    secrets: [nope]\n", "nope"},
		{"an undefined volume", "s", "services:\n  web:\n    image: nginx\n    volumes: ['vol:/data']\n", "vol"},
		{"an invalid stack name", "-bad", "services:\n  web:\n    image: nginx\n", "invalid stack name"},
		{"an unknown deploy mode", "s", "services:\n  web:\n    image: nginx\n    deploy:\n      mode: sometimes\n", "sometimes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "compose.yml")
			if err := os.WriteFile(f, []byte(c.body), 0o644); err != nil {
				t.Fatal(err)
			}
			p, err := Load(context.Background(), c.stack, []string{f}, nil)
			if err == nil {
				_, err = Convert(p, os.ReadFile)
			}
			if err == nil {
				t.Fatalf("accepted")
			}
			if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want one line naming %q", err, c.want)
			}
			if !errdefs.Is(err, errdefs.KindInvalidArgument) {
				t.Errorf("error %q has kind %v, want InvalidArgument", err, errdefs.KindOf(err))
			}
		})
	}
}

func TestTheVotingAppShape(t *testing.T) {
	p, err := Load(context.Background(), "vote", []string{"testdata/voting.yml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Convert(p, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range st.Services {
		names = append(names, s.Name)
	}
	if want := []string{"vote_db", "vote_redis", "vote_result", "vote_visualizer", "vote_vote", "vote_worker"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("services %v, want %v", names, want)
	}
	var nets []string
	for _, n := range st.Networks {
		nets = append(nets, n.Name)
	}
	if want := []string{"vote_backend", "vote_default", "vote_frontend"}; !reflect.DeepEqual(nets, want) {
		t.Errorf("networks %v, want %v (visualizer has none, so it joins default)", nets, want)
	}
	if !reflect.DeepEqual(st.Unsupported, []string{"depends_on"}) {
		t.Errorf("unsupported: %v", st.Unsupported)
	}
	redis := service(t, st, "vote_redis")
	if p := redis.EndpointSpec.Ports; len(p) != 1 || p[0].TargetPort != 6379 || p[0].PublishedPort != 0 || p[0].PublishMode != swarm.PortConfigPublishModeIngress {
		t.Errorf("redis: a target-only port is published on a port the cluster picks: %+v", p)
	}
	worker := service(t, st, "vote_worker")
	if worker.Labels["APP"] != "VOTING" {
		t.Errorf("worker: deploy labels in list form: %v", worker.Labels)
	}
	rp := worker.TaskTemplate.RestartPolicy
	if rp.Condition != swarm.RestartPolicyConditionOnFailure || *rp.Delay != 10*time.Second || *rp.MaxAttempts != 3 || *rp.Window != 120*time.Second {
		t.Errorf("worker restart policy: %+v", rp)
	}
	if got := worker.TaskTemplate.Placement.Constraints; !reflect.DeepEqual(got, []string{"node.role == manager"}) {
		t.Errorf("worker constraints: %v", got)
	}
	db := service(t, st, "vote_db")
	if m := db.TaskTemplate.ContainerSpec.Mounts; len(m) != 1 || m[0].Source != "vote_db-data" || m[0].Type != mount.TypeVolume {
		t.Errorf("db volume: %+v", m)
	}
	vis := service(t, st, "vote_visualizer")
	if g := vis.TaskTemplate.ContainerSpec.StopGracePeriod; g == nil || *g != 90*time.Second {
		t.Errorf("visualizer stop_grace_period: %v", g)
	}
	if m := vis.TaskTemplate.ContainerSpec.Mounts; len(m) != 1 || m[0].Type != mount.TypeBind || m[0].Source != "/var/run/docker.sock" {
		t.Errorf("visualizer bind: %+v", m)
	}
	if u := service(t, st, "vote_vote").UpdateConfig; u == nil || u.Parallelism != 2 || u.Delay != 0 {
		t.Errorf("vote update_config: %+v", u)
	}
}
