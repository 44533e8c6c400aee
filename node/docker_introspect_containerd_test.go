package node_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types"

	"github.com/minsw/minsw/internal/ociimage"
	"github.com/minsw/minsw/internal/testenv"
)

// docker top, docker stats and docker system df, through the real docker
// CLI and Python's docker SDK, on a node running a real container
// (containerd + runc).
func TestDockerTopStatsDFContainerd(t *testing.T) {
	c := startContainerdNode(t, "minsw-dockertop")
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatal("the docker CLI is not on PATH (scripts/deps.sh installs Debian's docker.io)")
	}
	sock := filepath.Join(c.execRoot, "docker.sock")
	env := append(os.Environ(), "DOCKER_HOST=unix://"+sock, "DOCKER_CONFIG="+filepath.Join(c.dir, "docker-config"))
	docker := func(args ...string) (string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "docker", args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatalf("docker %v: %v", args, err)
		}
		return string(out), 0
	}
	// A task that keeps two processes, its shell and a sleep, on an overlay
	// network (eth0 in its namespace) with 100,000 bytes in a volume; and
	// one that ran and exited.
	if out, code := docker("network", "create", "-d", "overlay", "topnet"); code != 0 {
		t.Fatalf("network create: %d\n%s", code, out)
	}
	if out, code := docker("service", "create", "--detach", "--name", "topper", "--no-resolve-image", "--network", "topnet",
		"--mount", "type=volume,source=topdata,target=/data",
		"busybox", "sh", "-c", "head -c 100000 /dev/zero >/data/f; sleep 3600 & wait"); code != 0 {
		t.Fatalf("service create: %d\n%s", code, out)
	}
	// The exited one runs busybox with another config: an image of its own
	// sharing busybox's layer.
	spec, err := ociimage.Busybox(context.Background(), testenv.BusyboxBinary)
	if err != nil {
		t.Fatal(err)
	}
	spec.Config.Labels = map[string]string{"minsw.test": "relabelled"}
	if _, err := ociimage.BuildAndPush(context.Background(), c.reg.Host+"/library/busybox:relabelled", spec); err != nil {
		t.Fatal(err)
	}
	if out, code := docker("service", "create", "--detach", "--name", "once", "--no-resolve-image", "--restart-condition", "none", "busybox:relabelled", "true"); code != 0 {
		t.Fatalf("service create: %d\n%s", code, out)
	}
	var id string
	if !within(90*time.Second, func() bool {
		out, _ := docker("container", "ls", "-q", "--no-trunc", "--filter", "name=topper.1")
		id = strings.TrimSpace(out)
		return id != "" && !strings.Contains(id, "\n")
	}) {
		out, _ := docker("service", "ps", "--no-trunc", "topper")
		t.Fatalf("no running container:\n%s", out)
	}

	var exited string
	if !within(90*time.Second, func() bool {
		out, _ := docker("container", "ls", "-a", "-q", "--no-trunc", "--filter", "name=once.1", "--filter", "status=exited")
		exited = strings.TrimSpace(out)
		return exited != "" && !strings.Contains(exited, "\n")
	}) {
		out, _ := docker("container", "ls", "-a")
		t.Fatalf("no exited container:\n%s", out)
	}

	t.Run("docker top", func(t *testing.T) {
		var out string
		if !within(30*time.Second, func() bool { out, _ = docker("top", id); return strings.Contains(out, "sleep 3600") }) {
			t.Fatalf("docker top:\n%s", out)
		}
		t.Logf("docker top %s:\n%s", id[:12], out)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if f := strings.Fields(lines[0]); strings.Join(f, " ") != "UID PID PPID C STIME TTY TIME CMD" || len(lines) != 3 {
			t.Fatalf("docker top: want ps -ef's titles and two processes:\n%s", out)
		}
		for _, l := range lines[1:] {
			if f := strings.Fields(l); f[0] != "root" || (!strings.Contains(l, "sh -c sleep 3600 & wait") && !strings.Contains(l, "sleep 3600")) {
				t.Errorf("docker top row %q", l)
			}
		}
		if out, code := docker("top", id, "aux"); code != 0 || !strings.HasPrefix(strings.Join(strings.Fields(out), " "), "USER PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND") {
			t.Errorf("docker top aux: %d\n%s", code, out)
		}
		if out, code := docker("top", id, "-eo", "pid,comm"); code != 0 || !strings.HasPrefix(strings.Join(strings.Fields(out), " "), "PID COMMAND ") || !strings.Contains(out, " sleep\n") {
			t.Errorf("docker top -eo pid,comm: %d\n%s", code, out)
		}
		if out, code := docker("top", id, "--forest"); code == 0 || !strings.Contains(out, `knows the ps options`) || !strings.Contains(out, `"--forest"`) {
			t.Errorf("docker top --forest: %d\n%s", code, out)
		}
		if out, code := docker("top", "nosuchcontainer"); code == 0 || !strings.Contains(out, "No such container: nosuchcontainer") {
			t.Errorf("docker top of an unknown container: %d\n%s", code, out)
		}
		if out, code := docker("top", exited); code == 0 || !strings.Contains(out, "Container "+exited+" is not running") {
			t.Errorf("docker top of an exited container: %d\n%s", code, out)
		}
	})

	t.Run("docker stats --no-stream", func(t *testing.T) {
		out, code := docker("stats", "--no-stream", "--format", "{{.ID}} {{.Name}} {{.MemUsage}} {{.PIDs}} {{.NetIO}} {{.CPUPerc}}", id)
		f := strings.Fields(out)
		// ID NAME USED / LIMIT PIDS RX / TX CPU%
		if code != 0 || len(f) != 10 || f[0] != id[:12] || !strings.HasPrefix(f[1], "topper.1.") || f[5] != "2" || f[3] != "/" || !strings.HasSuffix(f[9], "%") {
			t.Fatalf("docker stats --no-stream: %d\n%s", code, out)
		}
		if strings.HasPrefix(f[2], "0B") {
			t.Errorf("docker stats: no memory in use: %s", out)
		}
		if out, code := docker("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.PIDs}}", exited); code != 0 || !strings.Contains(out, "0B / 0B 0") {
			t.Errorf("docker stats of an exited container: %d\n%s", code, out)
		}
		// The table as users see it: every running container of the node.
		all, code := docker("stats", "--no-stream")
		t.Log("docker stats --no-stream:\n" + all)
		if out := all; code != 0 || !strings.Contains(out, "CONTAINER ID") || !strings.Contains(out, id[:12]) {
			t.Errorf("docker stats --no-stream (all): %d\n%s", code, out)
		}
		// Streamed: the CLI redraws its table from a sample a second; read
		// until it has drawn the container twice with figures, then stop it.
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "docker", "stats", "--format", "{{.ID}} {{.PIDs}}", id)
		cmd.Env = env
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc, drawn := bufio.NewScanner(stdout), 0
		for drawn < 2 && sc.Scan() {
			if strings.Contains(sc.Text(), id[:12]+" 2") {
				drawn++
			}
		}
		cmd.Process.Kill()
		cmd.Wait()
		if drawn < 2 {
			t.Errorf("docker stats (streamed) drew the container %d times in a minute", drawn)
		}
		if out, code := docker("stats", "--no-stream", "nosuchcontainer"); code == 0 || !strings.Contains(out, "No such container: nosuchcontainer") {
			t.Errorf("docker stats of an unknown container: %d\n%s", code, out)
		}
	})

	t.Run("docker system df", func(t *testing.T) {
		out, code := docker("system", "df")
		t.Log("docker system df:\n" + out)
		if code != 0 {
			t.Fatalf("docker system df: %d\n%s", code, out)
		}
		rows := map[string][]string{}
		for _, l := range strings.Split(out, "\n")[1:] {
			if f := strings.Fields(l); len(f) > 0 {
				rows[f[0]] = f
			}
		}
		// TYPE TOTAL ACTIVE SIZE RECLAIMABLE: the busybox image in use,
		// the running container, no volume, no build cache.
		if r := rows["Images"]; len(r) < 4 || r[1] != "2" || r[2] != "2" || r[3] == "0B" {
			t.Errorf("docker system df, images:\n%s", out)
		}
		if r := rows["Containers"]; len(r) < 3 || r[1] != "2" || r[2] != "1" {
			t.Errorf("docker system df, containers:\n%s", out)
		}
		if r := rows["Local"]; len(r) < 6 || r[2] != "1" || r[3] != "1" || r[4] != "100kB" {
			t.Errorf("docker system df, volumes:\n%s", out)
		}
		if r := rows["Build"]; len(r) < 4 || r[2] != "0" || r[3] != "0" {
			t.Errorf("docker system df, build cache:\n%s", out)
		}
		if out, code := docker("system", "df", "-v"); code != 0 || !strings.Contains(out, "busybox") || !strings.Contains(out, id[:12]) {
			t.Errorf("docker system df -v: %d\n%s", code, out)
		}
	})

	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	t.Run("system df counts a shared layer once", func(t *testing.T) {
		resp, err := hc.Get("http://docker/v1.47/system/df?type=image")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var du types.DiskUsage
		if err := json.NewDecoder(resp.Body).Decode(&du); err != nil || len(du.Images) != 2 {
			t.Fatalf("GET /system/df?type=image: %v %+v", err, du)
		}
		a, b := du.Images[0], du.Images[1]
		if a.SharedSize == 0 || a.SharedSize != b.SharedSize || du.LayersSize != a.Size+b.Size-a.SharedSize || du.Containers != nil {
			t.Errorf("images %d (%d shared) and %d (%d shared), layers %d: want the shared part once", a.Size, a.SharedSize, b.Size, b.SharedSize, du.LayersSize)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		for path, want := range map[string]string{
			"/v1.47/containers/" + id + "/stats?stream=1&one-shot=1": "400 cannot have stream=true and one-shot=true",
			"/v1.47/system/df?type=layers":                           "400 unknown object type: layers",
			"/v1.47/containers/nosuch/stats?stream=0":                "404 No such container: nosuch",
			"/v1.47/containers/" + id + "/top?ps_args=-o+pid,wchan":  "400 docker top on minsw does not know the ps field \"wchan\"",
		} {
			resp, err := hc.Get("http://docker" + path)
			if err != nil {
				t.Fatal(err)
			}
			var body struct{ Message string }
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if got := strconv.Itoa(resp.StatusCode) + " " + body.Message; !strings.HasPrefix(got, want) {
				t.Errorf("GET %s: %s, want %s...", path, got, want)
			}
		}
	})

	t.Run("python docker SDK", func(t *testing.T) {
		script := `
import docker
c = docker.DockerClient(base_url="unix://` + sock + `")
ct = c.containers.get("` + id + `")
top = ct.top()
print("titles", " ".join(top["Titles"]))
print("cmds", sorted(p[-1] for p in top["Processes"]))
s = ct.stats(stream=False)
print("stats", s["id"] == ct.id, s["pids_stats"]["current"], s["memory_stats"]["usage"] > 0, s["cpu_stats"]["system_cpu_usage"] > s["precpu_stats"]["system_cpu_usage"] > 0)
print("networks", sorted(s["networks"]))
g = ct.stats(stream=True, decode=True)
a, b = next(g), next(g)
g.close()
print("stream", b["precpu_stats"]["system_cpu_usage"] == a["cpu_stats"]["system_cpu_usage"], b["read"] > a["read"])
try:
    c.containers.get("nosuchcontainer").top()
except docker.errors.NotFound as e:
    print("not found:", e.explanation)
`
		out, err := exec.Command("python3", "-c", script).CombinedOutput()
		if err != nil {
			t.Fatalf("python docker SDK: %v\n%s", err, out)
		}
		t.Log("python docker SDK:\n" + string(out))
		for _, want := range []string{"titles UID PID PPID C STIME TTY TIME CMD", "cmds ['sh -c head -c 100000 /dev/zero >/data/f; sleep 3600 & wait', 'sleep 3600']", "stats True 2 True True", "stream True True", "networks ['eth0', 'eth1']", "not found: No such container: nosuchcontainer"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("python docker SDK: want %q in\n%s", want, out)
			}
		}
	})
}
