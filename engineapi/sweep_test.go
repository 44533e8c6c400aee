package engineapi_test

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// What a Swarm user's everyday commands print, found different from
// docker's in an acceptance sweep with the real docker CLI and Python SDK.

// TestDockerInspectAnyObject: `docker inspect NAME` tries a container, an
// image, a network, a volume, then the swarm objects, and moves on only
// when the daemon says "not found"; an image lookup answered 501 stopped it
// at the second kind, so it found nothing but containers.
func TestDockerInspectAnyObject(t *testing.T) {
	d := startDaemon(t, "swarm-manager", "--label", "dc=east")
	d.initSwarm()
	d.ok("network", "create", "-d", "overlay", "backnet")
	d.ok("service", "create", "--detach", "--name", "web", "--no-resolve-image", "--mount", "type=volume,source=webdata,target=/data", "busybox", "sleep", "1000")
	d.ok("volume", "create", "--label", "team=a", "keep")
	for _, c := range []struct{ ref, format, want string }{
		{"web", "{{.Spec.Name}}", "web"},
		{"backnet", "{{.Name}} {{.Driver}}", "backnet overlay"},
		{"keep", "{{.Name}} {{.Driver}} {{.Scope}}", "keep local local"},
		{"swarm-manager", "{{.Description.Hostname}} {{.Description.Engine.Labels}}", "swarm-manager map[dc:east]"},
	} {
		if out := strings.TrimSpace(d.ok("inspect", "--format", c.format, c.ref)); out != c.want {
			t.Errorf("docker inspect %s: %q, want %q", c.ref, out, c.want)
		}
	}
	out := d.fails("inspect", "nosuch")
	contains(t, out, "No such object: nosuch")
	out = d.fails("image", "inspect", "busybox")
	contains(t, out, "No such image: busybox")
}

// TestDockerVolumes: docker volume ls|create|inspect|rm|prune on this
// node's volumes (they were answered 501).
func TestDockerVolumes(t *testing.T) {
	d := startDaemon(t, "swarm-manager")
	d.initSwarm()
	d.ok("service", "create", "--detach", "--name", "db", "--no-resolve-image", "--mount", "type=volume,source=dbdata,target=/data", "busybox", "sleep", "1000")
	eventually(t, 30*time.Second, func() string {
		if out := d.ok("volume", "ls"); !regexp.MustCompile(`(?m)^local\s+dbdata$`).MatchString(out) {
			return "the task's volume is not listed:\n" + out
		}
		return ""
	})
	out := d.ok("volume", "ls")
	matches(t, out, `(?m)^DRIVER\s+VOLUME NAME$`)
	if got := strings.TrimSpace(d.ok("volume", "create", "--label", "team=a", "keep")); got != "keep" {
		t.Fatalf("volume create printed %q", got)
	}
	anon := strings.TrimSpace(d.ok("volume", "create"))
	matches(t, anon, `^[0-9a-f]{64}$`)
	if got := strings.Fields(d.ok("volume", "ls", "-q", "--filter", "label=team=a")); strings.Join(got, " ") != "keep" {
		t.Fatalf("label filter: %q", got)
	}
	if got := strings.Fields(d.ok("volume", "ls", "-q", "--filter", "dangling=true")); strings.Join(got, " ") != anon+" keep" {
		t.Fatalf("dangling=true: %q (dbdata is in use)", got)
	}
	// A pattern, as docker's: "data" has a letter no anonymous (hex) name holds.
	if got := strings.Fields(d.ok("volume", "ls", "-q", "--filter", "name=data")); strings.Join(got, " ") != "dbdata" {
		t.Fatalf("name filter: %q", got)
	}
	out = d.ok("volume", "inspect", "--format", "{{.Name}} {{.Driver}} {{.Scope}} {{.Labels}} {{.Mountpoint}}", "keep")
	matches(t, out, `^keep local local map\[team:a\] /\S+/keep/_data`)
	out = d.fails("volume", "inspect", "nosuch")
	contains(t, out, "nosuch")
	out = d.fails("volume", "ls", "--filter", "bogus=1")
	contains(t, out, "invalid filter 'bogus'")

	// prune removes unused anonymous volumes; -a every unused one.
	out = d.ok("volume", "prune", "-f")
	contains(t, out, "Deleted Volumes:\n"+anon+"\n")
	out = d.fails("volume", "rm", "dbdata")
	contains(t, out, "dbdata")
	d.ok("volume", "rm", "keep")
	if got := strings.Fields(d.ok("volume", "ls", "-q")); strings.Join(got, " ") != "dbdata" {
		t.Fatalf("after prune and rm: %q", got)
	}

	script := `
import docker
c = docker.DockerClient(base_url="unix://` + d.dockerSock() + `")
v = c.volumes.create(name="pyvol", labels={"k": "v"})
print("created", v.name, v.attrs["Driver"], v.attrs["Labels"])
print("listed", sorted(x.name for x in c.volumes.list()))
print("got", c.volumes.get("pyvol").attrs["Scope"])
v.remove()
try:
    c.volumes.get("pyvol")
except docker.errors.NotFound:
    print("gone")
`
	b, err := exec.Command("python3", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("python docker SDK: %v\n%s", err, b)
	}
	contains(t, string(b), "created pyvol local {'k': 'v'}", "listed ['dbdata', 'pyvol']", "got local", "gone")
}

// TestDockerSwarmLabelsAndNodeFilters: task containers carry docker's
// com.docker.swarm.* labels, which scripts filter on; node ls filters
// name by prefix and label by the engine's labels, as swarmkit's.
func TestDockerSwarmLabelsAndNodeFilters(t *testing.T) {
	d := startDaemon(t, "swarm-manager", "--label", "dc=east")
	d.initSwarm()
	d.ok("service", "create", "--detach", "--name", "web", "--replicas", "2", "--no-resolve-image", "busybox", "sleep", "1000")
	d.ok("service", "create", "--detach", "--name", "other", "--no-resolve-image", "busybox", "sleep", "1000")
	svcID := strings.TrimSpace(d.ok("service", "inspect", "--format", "{{.ID}}", "web"))
	eventually(t, 30*time.Second, func() string {
		out := d.ok("ps", "--filter", "label=com.docker.swarm.service.name=web", "--format", "{{.Names}}")
		if len(strings.Fields(out)) != 2 || strings.Contains(out, "other") {
			return "ps --filter label=com.docker.swarm.service.name=web:\n" + out
		}
		return ""
	})
	out := d.ok("ps", "--filter", "label=com.docker.swarm.service.id="+svcID, "--format",
		`{{.Label "com.docker.swarm.service.name"}} {{.Label "com.docker.swarm.task.name"}} {{.Label "com.docker.swarm.node.id"}}`)
	matches(t, out, `(?m)^web web\.[12]\.[a-z0-9]{25} [a-z0-9]{25}$`)
	// minsw's own CLI shows and filters the same labels.
	mout, code := d.minsw("container", "ls", "-q", "--filter", "label=com.docker.swarm.service.name=web")
	if code != 0 || len(strings.Fields(mout)) != 2 {
		t.Fatalf("minsw container ls --filter label=com.docker.swarm.service.name=web: exit %d\n%s", code, mout)
	}
	id := strings.Fields(d.ok("ps", "-q", "--filter", "label=com.docker.swarm.service.name=web"))[0]
	if mout, _ := d.minsw("container", "inspect", "--format", `{{index .Config.Labels "com.docker.swarm.service.name"}}`, id); strings.TrimSpace(mout) != "web" {
		t.Fatalf("minsw container inspect labels: %q", mout)
	}
	out = d.ok("inspect", "--format", `{{index .Config.Labels "com.docker.swarm.task.id"}}`, id)
	matches(t, out, `^[a-z0-9]{25}\s*$`)

	for _, c := range []struct{ filter, want string }{
		{"name=swarm-man", "swarm-manager"},
		{"name=swarm-manager", "swarm-manager"},
		{"name=worker", ""},
		{"label=dc=east", "swarm-manager"},
		{"label=dc", "swarm-manager"},
		{"label=dc=west", ""},
	} {
		if got := strings.TrimSpace(d.ok("node", "ls", "--filter", c.filter, "--format", "{{.Hostname}}")); got != c.want {
			t.Errorf("node ls --filter %s: %q, want %q", c.filter, got, c.want)
		}
	}
}

// TestDockerContainerNetworksAndMounts: a task's container shows its
// networks and mounts as docker's (ps NETWORKS/MOUNTS, inspect's
// NetworkSettings, which scripts template over and which was null), with
// docker's ps filters on them, and network inspect names each endpoint.
func TestDockerContainerNetworksAndMounts(t *testing.T) {
	d := startDaemon(t, "swarm-manager")
	d.initSwarm()
	d.ok("network", "create", "-d", "overlay", "--subnet", "10.77.0.0/24", "backnet")
	d.ok("service", "create", "--detach", "--name", "app", "--network", "backnet", "--no-resolve-image", "--limit-memory", "64m", "--read-only",
		"--mount", "type=volume,source=appdata,target=/data", "busybox", "sleep", "1000")
	d.ok("service", "create", "--detach", "--name", "lone", "--no-resolve-image", "busybox", "sleep", "1000")
	var id string
	eventually(t, 30*time.Second, func() string {
		id = strings.TrimSpace(d.ok("ps", "-q", "--filter", "network=backnet"))
		if id == "" || strings.Contains(id, "\n") {
			return "ps --filter network=backnet: " + id
		}
		return ""
	})
	out := d.ok("ps", "--filter", "name=app", "--format", "{{.Networks}} {{.Mounts}}")
	if strings.TrimSpace(out) != "backnet appdata" {
		t.Fatalf("ps NETWORKS MOUNTS: %q", out)
	}
	out = d.ok("inspect", "--format", `{{range $n, $e := .NetworkSettings.Networks}}{{$n}} {{$e.IPAddress}} {{$e.EndpointID}}{{end}}`, id)
	matches(t, out, `^backnet 10\.77\.0\.\d+ [0-9a-f]{64}`)
	out = d.ok("inspect", "--format", `{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.RW}} {{.Source}}{{end}}`, id)
	matches(t, out, `^volume appdata /data true /\S+/appdata/_data`)
	if got := strings.TrimSpace(d.ok("inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.ReadonlyRootfs}}", id)); got != "67108864 true" {
		t.Fatalf("HostConfig memory and read-only: %q", got)
	}
	for _, c := range []struct{ filter, want string }{
		{"volume=appdata", id},
		{"volume=/data", id},
		{"ancestor=busybox", ""}, // set below: both run busybox
		{"is-task=false", ""},
		{"health=healthy", ""},
	} {
		got := strings.Fields(d.ok("ps", "-q", "--no-trunc", "--filter", c.filter))
		if c.filter == "ancestor=busybox" {
			if len(got) != 2 {
				t.Errorf("ps --filter ancestor=busybox: %q, want both containers", got)
			}
			continue
		}
		if strings.Join(got, " ") != c.want && !(c.want != "" && len(got) == 1 && strings.HasPrefix(got[0], c.want)) {
			t.Errorf("ps --filter %s: %q, want %q", c.filter, got, c.want)
		}
	}
	out = d.ok("network", "inspect", "--format", `{{range $id, $c := .Containers}}{{$c.Name}} {{$c.EndpointID}};{{end}}`, "backnet")
	matches(t, out, `app\.1\.[a-z0-9]{25} [0-9a-f]{64};`, `backnet-endpoint [0-9a-f]{64};`)

	script := `
import docker
c = docker.DockerClient(base_url="unix://` + d.dockerSock() + `")
ct = c.containers.get("` + id + `")
nets = ct.attrs["NetworkSettings"]["Networks"]
print("networks", sorted(nets), nets["backnet"]["IPAddress"].startswith("10.77.0."))
print("labels", ct.labels["com.docker.swarm.service.name"])
print("by label", [x.name.split(".")[0] for x in c.containers.list(filters={"label": "com.docker.swarm.service.name=lone"})])
`
	b, err := exec.Command("python3", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("python docker SDK: %v\n%s", err, b)
	}
	contains(t, string(b), "networks ['backnet'] True", "labels app", "by label ['lone']")
}

// TestNetworkLsFiltersAlikeInBothCLIs: minsw network ls applied --filter
// to the swarm's networks only and listed host, none and the gateway
// bridge whatever the filter; it now lists what docker network ls lists.
func TestNetworkLsFiltersAlikeInBothCLIs(t *testing.T) {
	d := startDaemon(t, "swarm-manager")
	d.initSwarm()
	d.ok("network", "create", "-d", "overlay", "--label", "team=a", "backnet")
	names := func(out string) string {
		var ns []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			if f := strings.Fields(l); len(f) > 1 {
				ns = append(ns, f[1])
			}
		}
		return strings.Join(ns, " ")
	}
	for _, c := range []struct{ filter, want string }{
		{"driver=overlay", "backnet ingress"},
		{"scope=local", "host minsw_gwbridge none"},
		{"type=builtin", "host none"},
		{"type=custom", "backnet ingress minsw_gwbridge"},
		{"name=ho", "host"},
		{"label=team=a", "backnet"},
	} {
		out, code := d.minsw("network", "ls", "--filter", c.filter)
		if code != 0 {
			t.Fatalf("minsw network ls --filter %s: exit %d\n%s", c.filter, code, out)
		}
		docker := names(d.ok("network", "ls", "--filter", c.filter))
		got := names(out)
		// The gateway bridge exists once a task or the ingress sandbox
		// needed it; compare with docker's answer on the same node.
		if got != docker || withoutGateway(got) != withoutGateway(c.want) {
			t.Errorf("network ls --filter %s: minsw %q, docker %q, want %q", c.filter, got, docker, c.want)
		}
	}
}

func withoutGateway(names string) string {
	var out []string
	for _, n := range strings.Fields(names) {
		if n != "minsw_gwbridge" {
			out = append(out, n)
		}
	}
	return strings.Join(out, " ")
}

// TestDockerNodeTLSStatusAndVersion: a node shows its certificate's issuer
// and root as swarmkit's (node ls TLS STATUS Ready, node inspect --pretty's
// TLS Info; it was Unknown and absent), and docker version says the
// engine is not experimental (the field was empty).
func TestDockerNodeTLSStatusAndVersion(t *testing.T) {
	d := startDaemon(t, "swarm-manager")
	d.initSwarm()
	if got := strings.TrimSpace(d.ok("node", "ls", "--format", "{{.Hostname}} {{.TLSStatus}}")); got != "swarm-manager Ready" {
		t.Fatalf("node ls TLS status: %q", got)
	}
	out := d.ok("node", "inspect", "--pretty", "self")
	matches(t, out, `(?m)^TLS Info:$`, `(?m)^ TrustRoot:$`, `-----BEGIN CERTIFICATE-----`, `(?m)^ Issuer Subject:\s+\S+`, `(?m)^ Issuer Public Key:\s+\S+`)
	root := d.ok("info", "--format", "{{.Swarm.Cluster.TLSInfo.CertIssuerPublicKey}}")
	node := d.ok("node", "inspect", "--format", "{{.Description.TLSInfo.CertIssuerPublicKey}}", "self")
	if strings.TrimSpace(root) == "" || root != node {
		t.Fatalf("issuer public key: cluster %q, node %q", root, node)
	}
	out = d.ok("version")
	matches(t, out, `(?m)^\s+Experimental:\s+false$`)
	// docker info: the managers with their node IDs, and the local volume driver.
	id := strings.TrimSpace(d.ok("info", "--format", "{{.Swarm.NodeID}}"))
	if got := strings.TrimSpace(d.ok("info", "--format", "{{range .Swarm.RemoteManagers}}{{.NodeID}}{{end}} {{.Plugins.Volume}}")); got != id+" [local]" {
		t.Fatalf("info RemoteManagers and volume plugins: %q, want %q", got, id+" [local]")
	}
}
