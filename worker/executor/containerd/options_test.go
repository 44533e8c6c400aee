package containerd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/agent"
	"github.com/minsw/minsw/worker/executor"
)

// TestResourceLimitsInTheCgroup: --limit-memory, --limit-cpu and
// --limit-pids reach the container's cgroup. The container tells its own
// cgroup (/proc/self/cgroup); its settings are read from the host's cgroup
// tree, since this host (cgroup v1) mounts no cgroupfs inside containers.
func TestResourceLimitsInTheCgroup(t *testing.T) {
	e := newExecutor(t)
	ctx := testCtx(t)
	ts := &api.TaskSpec{
		Container: &api.ContainerSpec{Image: "busybox", Command: []string{"sh", "-c", "cat /proc/self/cgroup; echo READY; exec sleep 1000"}},
		Resources: &api.ResourceRequirements{Limits: &api.Resources{MemoryBytes: 64 << 20, NanoCpus: 5e8, Pids: 42}},
	}
	task := &api.Task{Id: "task3", ServiceId: "svc1", ServiceName: "web", Slot: 1, Spec: ts}
	spec, err := agent.WithTaskOptions(agent.BuildSpec(task, "node1", ""), task, "node1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	defer remove(t, e, spec.ID)
	if err := e.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	out := waitLog(t, e, spec.ID, "READY")
	paths := map[string]string{} // controller -> path
	for _, line := range strings.Split(out, "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) == 3 {
			for _, c := range strings.Split(f[1], ",") {
				paths[c] = f[2]
			}
		}
	}
	read := func(ctrl, v1, v2 string) string {
		if p, ok := paths[ctrl]; ok {
			b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", ctrl, p, v1))
			if err == nil {
				return strings.TrimSpace(string(b))
			}
		}
		b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", paths[""], v2))
		if err != nil {
			t.Fatalf("%s: %v (container cgroups %v)", ctrl, err, paths)
		}
		return strings.TrimSpace(string(b))
	}
	if got := read("memory", "memory.limit_in_bytes", "memory.max"); got != "67108864" {
		t.Errorf("memory limit %q, want 67108864 (64m)", got)
	}
	if got := read("cpu", "cpu.cfs_quota_us", "cpu.max"); !strings.HasPrefix(got, "50000") {
		t.Errorf("cpu quota %q, want 50000 of 100000 (0.5 CPU)", got)
	}
	if got := read("pids", "pids.max", "pids.max"); got != "42" {
		t.Errorf("pids.max %q, want 42", got)
	}
}

// TestServiceOptionsSeenFromInside runs one container per option of
// `docker service create`, built from the task spec as the agent builds it,
// and reads the option's effect from inside the container.
func TestServiceOptionsSeenFromInside(t *testing.T) {
	e := newExecutor(t)
	ctx := testCtx(t)
	if err := e.Pull(ctx, "busybox"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		sh     string
		change func(*api.TaskSpec)
		want   []string
		absent []string
	}{
		{name: "--user 1000:1000 --group 500 runs as that user", sh: `id`,
			change: func(ts *api.TaskSpec) {
				ts.Container.User = "1000:1000"
				ts.Container.Groups = []string{"500", "nogroup"}
			},
			want: []string{"uid=1000 gid=1000", "500", "65534"}},
		{name: "--workdir /tmp starts there", sh: `pwd`,
			change: func(ts *api.TaskSpec) { ts.Container.Dir = "/tmp" }, want: []string{"/tmp\n"}},
		{name: "--entrypoint replaces the image's", sh: "",
			change: func(ts *api.TaskSpec) {
				ts.Container.Command = []string{"echo", "from-entrypoint"}
				ts.Container.Args = nil
			},
			want: []string{"from-entrypoint"}},
		{name: "--hostname with templates", sh: `hostname`,
			change: func(ts *api.TaskSpec) { ts.Container.Hostname = "{{.Service.Name}}-{{.Task.Slot}}-{{.Node.Hostname}}" },
			want:   []string{"web-3-swarm-worker1"}},
		{name: "--env with a template", sh: `echo "where=$WHERE"`,
			change: func(ts *api.TaskSpec) { ts.Container.Env = []string{"WHERE={{.Node.ID}}/{{.Task.Name}}"} },
			want:   []string{"where=node1/web.3.task1"}},
		{name: "--cap-add NET_ADMIN --cap-drop CHOWN", sh: `grep CapEff /proc/1/status`,
			change: func(ts *api.TaskSpec) {
				ts.Container.CapAdd = []string{"NET_ADMIN"}
				ts.Container.CapDrop = []string{"chown"}
			},
			// default set 0xa80425fb, minus CHOWN (bit 0) plus NET_ADMIN (bit 12)
			want: []string{"00000000a80435fa"}},
		{name: "--cap-drop ALL leaves none", sh: `grep CapEff /proc/1/status`,
			change: func(ts *api.TaskSpec) { ts.Container.CapDrop = []string{"ALL"} },
			want:   []string{"0000000000000000"}},
		{name: "--read-only root filesystem", sh: `touch /x 2>&1; echo rc=$?`,
			change: func(ts *api.TaskSpec) { ts.Container.ReadOnly = true },
			want:   []string{"Read-only file system", "rc=1"}},
		{name: "--sysctl net.ipv4.ip_forward=1", sh: `cat /proc/sys/net/ipv4/ip_forward`,
			change: func(ts *api.TaskSpec) { ts.Container.Sysctls = map[string]string{"net.ipv4.ip_forward": "1"} },
			want:   []string{"1\n"}},
		{name: "--ulimit nofile=1024:2048", sh: `ulimit -n; ulimit -Hn`,
			change: func(ts *api.TaskSpec) {
				ts.Container.Ulimits = []*api.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}}
			},
			want: []string{"1024\n2048\n"}},
		{name: "--oom-score-adj 500", sh: `cat /proc/1/oom_score_adj`,
			change: func(ts *api.TaskSpec) { ts.Container.OomScoreAdj = 500 }, want: []string{"500"}},
		{name: "--init runs docker-init as PID 1", sh: `cat /proc/1/cmdline | tr '\0' ' '; echo; echo "me=$$"`,
			change: func(ts *api.TaskSpec) { ts.Container.Init = true },
			want:   []string{"/sbin/docker-init -- sh -c", "me="}, absent: []string{"me=1\n"}},
		{name: "--dns --dns-search --dns-option off the overlays", sh: `cat /etc/resolv.conf`,
			change: func(ts *api.TaskSpec) {
				ts.Container.DnsConfig = &api.DNSConfig{Nameservers: []string{"10.9.9.9"}, Search: []string{"corp.example"}, Options: []string{"timeout:2"}}
			},
			want: []string{"nameserver 10.9.9.9\nsearch corp.example\noptions timeout:2\n"}},
		{name: "--dns-search on an overlay keeps 127.0.0.11 and adds ndots:0", sh: `cat /etc/resolv.conf`,
			change: func(ts *api.TaskSpec) {
				ts.Networks = []*api.NetworkAttachmentConfig{{Target: "net1"}}
				ts.Container.DnsConfig = &api.DNSConfig{Search: []string{"corp.example"}}
			},
			want: []string{"nameserver 127.0.0.11\nsearch corp.example\noptions ndots:0\n"}},
		{name: "--host db:10.0.0.9", sh: `cat /etc/hosts`,
			change: func(ts *api.TaskSpec) { ts.Container.Hosts = []string{"10.0.0.9 db"} }, want: []string{"10.0.0.9\tdb\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := &api.TaskSpec{Container: &api.ContainerSpec{Image: "busybox", Command: []string{"sh", "-c", tc.sh}}}
			tc.change(ts)
			out, _ := runTask(t, e, ts, tc.want...)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(out, a) {
					t.Errorf("output has %q:\n%s", a, out)
				}
			}
		})
	}
}

// runTask runs task spec ts of service web, slot 3, on node node1
// (swarm-worker1) to its end and returns its output (once it holds every
// string of want: see exitedLogs) and exit status.
func runTask(t *testing.T, e *Executor, ts *api.TaskSpec, want ...string) (string, executor.Status) {
	t.Helper()
	ctx := testCtx(t)
	task := &api.Task{Id: "task1", ServiceId: "svc1", ServiceName: "web", Slot: 3, Spec: ts}
	spec, err := agent.WithTaskOptions(agent.BuildSpec(task, "node1", ""), task, "node1", &api.NodeDescription{Hostname: "swarm-worker1"})
	if err != nil {
		t.Fatal(err)
	}
	spec.ID = newID()
	if err := e.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	defer remove(t, e, spec.ID)
	if err := e.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	st := waitExited(t, e, spec.ID)
	return exitedLogs(t, e, spec.ID, want...), st
}

// TestStopSignalAndGracePeriod: --stop-signal USR1 is what the process
// gets first.
func TestStopSignal(t *testing.T) {
	e := newExecutor(t)
	ctx := testCtx(t)
	ts := &api.TaskSpec{Container: &api.ContainerSpec{Image: "busybox", StopSignal: "SIGUSR1",
		StopGracePeriod: durationpb.New(5 * time.Second),
		Command:         []string{"sh", "-c", `trap "echo got-usr1; exit 9" USR1; trap "echo got-term; exit 8" TERM; echo up; while true; do sleep 0.05; done`}}}
	task := &api.Task{Id: "task2", ServiceId: "svc1", ServiceName: "web", Slot: 1, Spec: ts}
	spec, err := agent.WithTaskOptions(agent.BuildSpec(task, "node1", ""), task, "node1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	defer remove(t, e, spec.ID)
	if err := e.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	waitLog(t, e, spec.ID, "up")
	if err := e.Stop(ctx, spec.ID, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	st, _ := e.Inspect(ctx, spec.ID)
	if st.ExitCode != 9 {
		t.Errorf("exit %d, want 9 (the USR1 trap)", st.ExitCode)
	}
}

// TestLogDriverNone keeps no output.
func TestLogDriverNone(t *testing.T) {
	e := newExecutor(t)
	ts := &api.TaskSpec{Container: &api.ContainerSpec{Image: "busybox", Command: []string{"sh", "-c", "echo hidden"}},
		LogDriver: &api.LogDriver{Name: "none"}}
	out, st := runTask(t, e, ts)
	if out != "" || st.ExitCode != 0 {
		t.Errorf("log %q exit %d, want nothing and 0", out, st.ExitCode)
	}
}

func waitLog(t *testing.T, e *Executor, id, want string) string {
	t.Helper()
	for range 500 {
		var out bytes.Buffer
		_ = e.Logs(testCtx(t), id, executor.LogsOptions{Tail: -1}, logsTo(&out))
		if strings.Contains(out.String(), want) {
			return out.String()
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %q in the log in 10s", want)
	return ""
}

// TestTTY: --tty gives the process a terminal; its output reaches the log.
func TestTTY(t *testing.T) {
	e := newExecutor(t)
	ts := &api.TaskSpec{Container: &api.ContainerSpec{Image: "busybox", Tty: true,
		Command: []string{"sh", "-c", `[ -t 1 ] && echo "tty=yes $(tty)"`}}}
	task := &api.Task{Id: "task4", ServiceId: "svc1", ServiceName: "web", Slot: 1, Spec: ts}
	spec, err := agent.WithTaskOptions(agent.BuildSpec(task, "node1", ""), task, "node1", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	if err := e.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	defer remove(t, e, spec.ID)
	if err := e.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	out := waitLog(t, e, spec.ID, "tty=yes")
	if !strings.Contains(out, "/dev/pts/") && !strings.Contains(out, "/dev/console") {
		t.Errorf("output %q, want the terminal's name", out)
	}
	if st := waitExited(t, e, spec.ID); st.ExitCode != 0 {
		t.Errorf("exit %d", st.ExitCode)
	}
}

// TestLogRotation: --log-opt max-size=1k max-file=3 keeps three files of at
// most 1 KiB; logs read the parts in order, and follow goes on across a
// rotation.
func TestLogRotation(t *testing.T) {
	e := newExecutor(t)
	ts := &api.TaskSpec{
		Container: &api.ContainerSpec{Image: "busybox", Command: []string{"sh", "-c",
			`i=0; while [ $i -lt 200 ]; do echo "line $i padded to be longer"; i=$((i+1)); done`}},
		LogDriver: &api.LogDriver{Name: "json-file", Options: map[string]string{"max-size": "1k", "max-file": "3"}},
	}
	task := &api.Task{Id: "task5", ServiceId: "svc1", ServiceName: "web", Slot: 1, Spec: ts}
	spec, err := agent.WithTaskOptions(agent.BuildSpec(task, "node1", ""), task, "node1", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	if err := e.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	defer remove(t, e, spec.ID)
	var follow bytes.Buffer
	followed := make(chan error, 1)
	if err := e.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	go func() {
		followed <- e.Logs(ctx, spec.ID, executor.LogsOptions{Follow: true, Tail: -1}, logsTo(&follow))
	}()
	waitExited(t, e, spec.ID)
	out := waitLog(t, e, spec.ID, "line 199 ")
	log := e.files(spec.ID).log()
	var total int // records (lines) kept
	for _, p := range []string{log, log + ".1", log + ".2"} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if len(b) > 1024 {
			t.Errorf("%s is %d bytes, over max-size 1k", p, len(b))
		}
		total += bytes.Count(b, []byte("\n"))
	}
	if _, err := os.Stat(log + ".3"); err == nil {
		t.Error("a fourth file was kept with max-file=3")
	}
	// The oldest lines are gone; what is left is in order and ends with the last.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != total || !strings.HasPrefix(lines[len(lines)-1], "line 199 ") || strings.Contains(out, "line 0 ") {
		t.Errorf("logs: %d lines of %d kept; last %q", len(lines), total, lines[len(lines)-1])
	}
	var tail bytes.Buffer
	if err := e.Logs(ctx, spec.ID, executor.LogsOptions{Tail: 2}, logsTo(&tail)); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tail.String(), "line 198 ") || strings.Count(tail.String(), "\n") != 2 {
		t.Errorf("--tail 2: %q", tail.String())
	}
	select {
	case err := <-followed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("follow did not end with the container")
	}
	if !strings.Contains(follow.String(), "line 199 ") {
		t.Errorf("follow lost the lines after a rotation: ends %q", follow.String()[max(0, follow.Len()-80):])
	}
}
