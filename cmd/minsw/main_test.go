package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/cmd/minsw/service"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

func TestSwarmInit(t *testing.T) {
	d := seedDaemon()
	sock := d.serve(t)
	out, errOut, code := runCLI(t, sock, "", "swarm", "init", "--advertise-addr", "192.168.56.10")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "Swarm initialized: current node (m1anager0000000000000000a) is now a manager.\n\n" +
		"To add a worker to this swarm, run the following command:\n\n" +
		"    minsw swarm join --token SWMTKN-1-worker 192.168.56.10:2377\n\n" +
		"To add a manager to this swarm, run 'minsw swarm join-token manager' and follow the instructions.\n\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	if d.lastInit.AdvertiseAddr != "192.168.56.10" || d.lastInit.ListenAddr != "" { // the daemon applies its own --listen-addr
		t.Errorf("init request: %v", d.lastInit)
	}
}

func TestSwarmJoin(t *testing.T) {
	d := seedDaemon()
	sock := d.serve(t)
	out, _, code := runCLI(t, sock, "", "swarm", "join", "--token", "SWMTKN-1-worker", "192.168.56.10:2377")
	if code != 0 || out != "This node joined a swarm as a worker.\n" {
		t.Errorf("join: %d %q", code, out)
	}
	if got := d.lastJoin.RemoteAddrs; len(got) != 1 || got[0] != "192.168.56.10:2377" {
		t.Errorf("remote addrs %v", got)
	}
	_, errOut, code := runCLI(t, sock, "", "swarm", "join", "--token", "bad", "192.168.56.10:2377")
	if code != 1 || errOut != "Error response from daemon: invalid join token\n" {
		t.Errorf("wrong token: %d %q", code, errOut)
	}
}

func TestSwarmJoinToken(t *testing.T) {
	d := seedDaemon()
	sock := d.serve(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"worker"}, "To add a worker to this swarm, run the following command:\n\n    minsw swarm join --token SWMTKN-1-worker 192.168.56.10:2377\n\n"},
		{[]string{"manager"}, "To add a manager to this swarm, run the following command:\n\n    minsw swarm join --token SWMTKN-1-manager 192.168.56.10:2377\n\n"},
		{[]string{"-q", "worker"}, "SWMTKN-1-worker\n"},
		{[]string{"--rotate", "-q", "manager"}, "SWMTKN-1-manager-rotated\n"},
	} {
		out, errOut, code := runCLI(t, sock, "", append([]string{"swarm", "join-token"}, tc.args...)...)
		if code != 0 || out != tc.want {
			t.Errorf("join-token %v: exit %d %q\ngot  %q\nwant %q", tc.args, code, errOut, out, tc.want)
		}
	}
	_, errOut, code := runCLI(t, sock, "", "swarm", "join-token", "boss")
	if code != 1 || errOut != "unknown role boss\n" {
		t.Errorf("bad role: %d %q", code, errOut)
	}
}

func TestNodeLs(t *testing.T) {
	d := seedDaemon()
	d.nodes[0].ManagerStatus = nil
	sock := d.serve(t)
	out, errOut, code := runCLI(t, sock, "", "node", "ls")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "" +
		"ID                            HOSTNAME        STATUS    AVAILABILITY   MANAGER STATUS   ENGINE VERSION\n" +
		"m1anager0000000000000000a *   swarm-manager   Ready     Active         Leader           0.1.0\n" +
		"w1orker000000000000000001     swarm-worker1   Ready     Active                          0.1.0\n" +
		"w2orker000000000000000002     swarm-worker2   Ready     Active                          0.1.0\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	out, _, _ = runCLI(t, sock, "", "node", "ls", "--format", "{{.Hostname}}: {{.ManagerStatus}}")
	if out != "swarm-manager: Leader\nswarm-worker1: \nswarm-worker2: \n" {
		t.Errorf("format: %q", out)
	}
	out, _, _ = runCLI(t, sock, "", "node", "ls", "-q")
	if out != "m1anager0000000000000000a\nw1orker000000000000000001\nw2orker000000000000000002\n" {
		t.Errorf("quiet: %q", out)
	}
}

func TestNodeUpdatePromoteRemove(t *testing.T) {
	d := seedDaemon()
	sock := d.serve(t)
	out, errOut, code := runCLI(t, sock, "", "node", "update", "--availability", "drain", "--label-add", "zone=a", "swarm-worker1")
	if code != 0 || out != "swarm-worker1\n" {
		t.Fatalf("update: %d %q %q", code, out, errOut)
	}
	if n := d.nodes[2]; n.Spec.Availability.String() != "NODE_AVAILABILITY_DRAIN" || n.Spec.Labels["zone"] != "a" {
		t.Errorf("node spec %v", n.Spec)
	}
	_, errOut, code = runCLI(t, sock, "", "node", "update", "--availability", "sleep", "swarm-worker1")
	if code != 1 || !strings.Contains(errOut, `invalid availability "sleep"`) {
		t.Errorf("bad availability: %d %q", code, errOut)
	}
	out, _, code = runCLI(t, sock, "", "node", "promote", "swarm-worker1", "swarm-manager")
	if code != 0 || out != "Node swarm-worker1 promoted to a manager in the swarm.\nNode swarm-manager is already a manager.\n" {
		t.Errorf("promote: %d %q", code, out)
	}
	out, _, code = runCLI(t, sock, "", "node", "demote", "swarm-worker1")
	if code != 0 || out != "Manager swarm-worker1 demoted in the swarm.\n" {
		t.Errorf("demote: %d %q", code, out)
	}
	out, errOut, code = runCLI(t, sock, "", "node", "rm", "swarm-worker2", "nope")
	if code != 1 || out != "" || errOut != "Error response from daemon: node swarm-worker2 is not down and can't be removed\nError response from daemon: node nope not found\n" {
		t.Errorf("rm: %d %q %q", code, out, errOut)
	}
}

func TestNodeInspect(t *testing.T) {
	d := seedDaemon()
	sock := d.serve(t)
	out, errOut, code := runCLI(t, sock, "", "node", "inspect", "self")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	n := got[0]
	if n["ID"] != "m1anager0000000000000000a" || n["Version"].(map[string]any)["Index"] != 3.0 {
		t.Errorf("ID/Version: %v", n)
	}
	if n["Spec"].(map[string]any)["Role"] != "manager" || n["Spec"].(map[string]any)["Availability"] != "active" {
		t.Errorf("Spec: %v", n["Spec"])
	}
	if ms := n["ManagerStatus"].(map[string]any); ms["Leader"] != true || ms["Reachability"] != "reachable" || ms["Addr"] != "192.168.56.10:2377" {
		t.Errorf("ManagerStatus: %v", ms)
	}
	if !strings.HasPrefix(out, "[\n    {\n        \"ID\": \"m1anager0000000000000000a\",\n        \"Version\": {\n            \"Index\": 3\n        },\n        \"CreatedAt\": ") {
		t.Errorf("layout:\n%s", out)
	}
	out, _, _ = runCLI(t, sock, "", "node", "inspect", "--pretty", "swarm-manager")
	for _, want := range []string{"Hostname:", "swarm-manager", "Leader:", "Yes", "Address:", "192.168.56.10:2377"} {
		if !strings.Contains(out, want) {
			t.Errorf("pretty lacks %q:\n%s", want, out)
		}
	}
}

func TestNetworkLs(t *testing.T) {
	sock := seedDaemon().serve(t)
	out, _, code := runCLI(t, sock, "", "network", "ls")
	want := "" +
		"NETWORK ID     NAME      DRIVER    SCOPE\n" +
		"14fy2l7a4mci   ingress   overlay   swarm\n" +
		"lpirdge00y3j   mynet     overlay   swarm\n"
	if code != 0 || out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	out, _, _ = runCLI(t, sock, "", "network", "ls", "-q")
	if out != "14fy2l7a4mci\nlpirdge00y3j\n" {
		t.Errorf("quiet: %q", out)
	}
}

func TestNetworkCreateInspectRm(t *testing.T) {
	d := seedDaemon()
	sock := d.serve(t)
	out, errOut, code := runCLI(t, sock, "", "network", "create", "-d", "overlay", "--subnet", "10.0.9.0/24", "--attachable", "--label", "a=b", "other")
	if code != 0 || len(strings.TrimSpace(out)) != 25 {
		t.Fatalf("create: %d %q %q", code, out, errOut)
	}
	if spec := d.networks[2].Spec; spec.Driver != "overlay" || spec.Subnet != "10.0.9.0/24" || !spec.Attachable || spec.Labels["a"] != "b" {
		t.Errorf("spec %v", spec)
	}
	_, errOut, code = runCLI(t, sock, "", "network", "create", "other")
	if code != 1 || errOut != "Error response from daemon: network with name other already exists\n" {
		t.Errorf("dup: %d %q", code, errOut)
	}

	out, errOut, code = runCLI(t, sock, "", "network", "inspect", "mynet")
	if code != 0 {
		t.Fatalf("inspect: %d %s", code, errOut)
	}
	var got []struct {
		Name, Id, Scope, Driver string
		IPAM                    struct {
			Driver string
			Config []struct{ Subnet, Gateway string }
		}
		Options    map[string]string
		Containers map[string]struct{ Name, MacAddress, IPv4Address string }
		Peers      []struct{ Name, IP string }
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	n := got[0]
	if n.Name != "mynet" || n.Id != "lpirdge00y3jqagzhq9psqu6f" || n.Scope != "swarm" || n.Driver != "overlay" ||
		n.IPAM.Driver != "default" || n.IPAM.Config[0].Subnet != "10.0.1.0/24" || n.IPAM.Config[0].Gateway != "10.0.1.1" ||
		n.Options["com.docker.network.driver.overlay.vxlanid_list"] != "4097" {
		t.Errorf("network: %+v", n)
	}
	lb := n.Containers["lb-mynet"]
	if lb.Name != "mynet-endpoint" || lb.IPv4Address != "10.0.1.37/24" || lb.MacAddress != "02:42:0a:00:01:25" {
		t.Errorf("lb endpoint: %+v", n.Containers)
	}
	if len(n.Peers) != 1 || n.Peers[0].Name != "swarm-manager" || n.Peers[0].IP != "192.168.56.10" {
		t.Errorf("peers: %+v", n.Peers)
	}

	out, errOut, code = runCLI(t, sock, "", "network", "rm", "mynet", "nope")
	if code != 1 || out != "mynet\n" || errOut != "Error response from daemon: network nope not found\n" {
		t.Errorf("rm: %d %q %q", code, out, errOut)
	}
}

func TestServiceLsSeed(t *testing.T) {
	d := seedDaemon()
	sock := d.serve(t)
	t.Setenv("MINSW_VERIFY_SECONDS", "0")
	if _, errOut, code := runCLI(t, sock, "", "service", "create", "-d", "--name", "client", "--network", "mynet", "xiaopeng163/net-box:latest", "ping", "8.8.8.8"); code != 0 {
		t.Fatal(errOut)
	}
	// Let the toy orchestrator run the client task.
	for range 6 {
		runCLI(t, sock, "", "service", "ps", "-q", "client")
	}
	out, _, code := runCLI(t, sock, "", "service", "ls")
	want := "" +
		"ID             NAME      MODE         REPLICAS   IMAGE                        PORTS\n" +
		"skbcdfvgidwa   client    replicated   1/1        xiaopeng163/net-box:latest\n" +
		"jozc1x1c1zpy   web       replicated   2/2        containous/whoami:latest\n"
	if code != 0 || out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	out, _, _ = runCLI(t, sock, "", "service", "ls", "--format", "{{.ID}} {{.Name}} {{.Mode}} {{.Replicas}} {{.Image}}")
	if !strings.Contains(out, "jozc1x1c1zpy web replicated 2/2 containous/whoami:latest\n") {
		t.Errorf("format: %q", out)
	}
	if got := d.services[1].Spec.Task.Container; got.Image != "xiaopeng163/net-box:latest" || strings.Join(got.Args, " ") != "ping 8.8.8.8" {
		t.Errorf("container spec: %v", got)
	}
}

func TestServicePs(t *testing.T) {
	d := seedDaemon()
	// A replaced task in slot 1 shows as history under the current one.
	old := proto.Clone(d.tasks[0]).(*minswv1.Task)
	old.Id = "oldtask000000000000000001"
	old.Meta = &minswv1.Meta{CreatedAt: ago(10 * time.Minute)}
	old.DesiredState = minswv1.TaskState_TASK_STATE_SHUTDOWN
	old.Status = &minswv1.TaskStatus{State: minswv1.TaskState_TASK_STATE_FAILED, Timestamp: ago(3 * time.Minute), Err: "task: non-zero exit (1): a long reason for a crash"}
	d.tasks = append(d.tasks, old)
	sock := d.serve(t)
	out, errOut, code := runCLI(t, sock, "", "service", "ps", "web")
	if code != 0 {
		t.Fatal(errOut)
	}
	want := "" +
		"ID             NAME        IMAGE                      NODE            DESIRED STATE   CURRENT STATE            ERROR                              PORTS\n" +
		"pwi87g86kbxd   web.1       containous/whoami:latest   swarm-worker1   Running         Running 47 seconds ago\n" +
		"oldtask00000    \\_ web.1   containous/whoami:latest   swarm-worker1   Shutdown        Failed 3 minutes ago     \"task: non-zero exit (1): a lo…\"\n" +
		"xbri2akxy2e8   web.2       containous/whoami:latest   swarm-worker2   Running         Running 44 seconds ago\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	out, _, _ = runCLI(t, sock, "", "service", "ps", "--no-trunc", "--format", "{{.Name}}|{{.Error}}", "web")
	if !strings.Contains(out, ` \_ web.1.oldtask000000000000000001|"task: non-zero exit (1): a long reason for a crash"`) {
		t.Errorf("no-trunc: %q", out)
	}
	_, errOut, code = runCLI(t, sock, "", "service", "ps", "nope")
	if code != 1 || errOut != "Error response from daemon: service nope not found\n" {
		t.Errorf("unknown: %d %q", code, errOut)
	}
}

func TestServiceCreateProgressPlain(t *testing.T) {
	d := seedDaemon()
	sock := d.serve(t)
	t.Setenv("MINSW_VERIFY_SECONDS", "0.2")
	out, errOut, code := runCLI(t, sock, "", "service", "create", "--name", "client", "--network", "mynet", "--replicas", "2", "xiaopeng163/net-box:latest", "ping", "8.8.8.8")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "skbcdfvgidwafbm4nciq82env\n" +
		"overall progress: 2 out of 2 tasks\n" +
		"1/2: running   [==================================================>]\n" +
		"2/2: running   [==================================================>]\n" +
		"verify: Service converged\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

func TestServiceCreateCannotConverge(t *testing.T) {
	d := seedDaemon()
	d.unschedulable = "no suitable node (scheduling constraints not satisfied on 3 nodes)"
	sock := d.serve(t)
	t.Setenv("MINSW_STALL_SECONDS", "0.3")
	out, errOut, code := runCLI(t, sock, "", "service", "create", "--name", "client", "--constraint", "node.labels.zone==mars", "busybox")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(out, "1/1: no suitable node (scheduling constraints not satisfied on 3 nodes)\n") {
		t.Errorf("stdout: %q", out)
	}
	if errOut != "service client cannot converge: 1/1: no suitable node (scheduling constraints not satisfied on 3 nodes)\n" {
		t.Errorf("stderr: %q", errOut)
	}
	if got := d.services[1].Spec.Task.Placement.Constraints; len(got) != 1 || got[0] != "node.labels.zone==mars" {
		t.Errorf("constraints %v", got)
	}
}

func TestServiceCreateBadInput(t *testing.T) {
	sock := seedDaemon().serve(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--mode", "global", "--replicas", "2", "busybox"}, "replicas can only be used with replicated mode\n"},
		{[]string{"--restart-condition", "sometimes", "busybox"}, `invalid restart condition "sometimes": must be one of any, on-failure, none` + "\n"},
		{[]string{"--name", "web", "busybox"}, "Error response from daemon: service web already exists\n"},
		{[]string{}, "\"minsw service create\" requires at least 1 argument.\nSee 'minsw service create --help'.\n"},
		{[]string{"-p", "80:abc", "busybox"}, `invalid port "80:abc": use published:target[/protocol] or published=P,target=T[,protocol=tcp|udp][,mode=ingress|host]` + "\n"},
	} {
		_, errOut, code := runCLI(t, sock, "", append([]string{"service", "create", "-d"}, tc.args...)...)
		if code != 1 || errOut != tc.want {
			t.Errorf("%v: exit %d\ngot  %q\nwant %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestServiceScaleUpdateRm(t *testing.T) {
	d := seedDaemon()
	sock := d.serve(t)
	t.Setenv("MINSW_VERIFY_SECONDS", "0")
	out, errOut, code := runCLI(t, sock, "", "service", "scale", "web=3")
	if code != 0 {
		t.Fatalf("scale: %d %s", code, errOut)
	}
	if !strings.HasPrefix(out, "web scaled to 3\noverall progress: 3 out of 3 tasks\n") || !strings.HasSuffix(out, "3/3: running   [==================================================>]\nverify: Service converged\n") {
		t.Errorf("scale output:\n%s", out)
	}
	_, errOut, code = runCLI(t, sock, "", "service", "scale", "web")
	if code != 1 || !strings.HasPrefix(errOut, "invalid scale specifier 'web'.") {
		t.Errorf("bad scale: %q", errOut)
	}

	out, errOut, code = runCLI(t, sock, "", "service", "update", "-d", "--env-add", "A=1", "--env-add", "B=2", "--constraint-add", "node.role==worker", "--image", "containous/whoami:v2", "--force", "web")
	if code != 0 || out != "web\n" {
		t.Fatalf("update: %d %q %q", code, out, errOut)
	}
	spec := d.services[0].Spec
	if ct := spec.Task.Container; ct.Image != "containous/whoami:v2" || strings.Join(ct.Env, ",") != "A=1,B=2" ||
		spec.Task.Placement.Constraints[0] != "node.role==worker" || spec.Task.ForceUpdate != 1 || spec.GetReplicated().Replicas != 3 {
		t.Errorf("spec after update: %v", spec)
	}
	runCLI(t, sock, "", "service", "update", "-d", "--env-rm", "A", "--env-add", "B=3", "web")
	if got := strings.Join(d.services[0].Spec.Task.Container.Env, ","); got != "B=3" {
		t.Errorf("env after rm: %s", got)
	}

	out, errOut, code = runCLI(t, sock, "", "service", "rm", "web", "nope")
	if code != 1 || out != "web\n" || errOut != "Error response from daemon: service nope not found\n" {
		t.Errorf("rm: %d %q %q", code, out, errOut)
	}
}

func TestServiceInspect(t *testing.T) {
	sock := seedDaemon().serve(t)
	out, errOut, code := runCLI(t, sock, "", "service", "inspect", "web")
	if code != 0 {
		t.Fatal(errOut)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	spec := got[0]["Spec"].(map[string]any)
	if spec["Mode"].(map[string]any)["Replicated"].(map[string]any)["Replicas"] != 2.0 {
		t.Errorf("Mode: %v", spec["Mode"])
	}
	if img := spec["TaskTemplate"].(map[string]any)["ContainerSpec"].(map[string]any)["Image"]; img != "containous/whoami" {
		t.Errorf("image %v", img)
	}
	vip := got[0]["Endpoint"].(map[string]any)["VirtualIPs"].([]any)[0].(map[string]any)
	if vip["NetworkID"] != "lpirdge00y3jqagzhq9psqu6f" || vip["Addr"] != "10.0.1.30/24" {
		t.Errorf("vip %v", vip)
	}
	out, _, _ = runCLI(t, sock, "", "service", "inspect", "--pretty", "web")
	for _, want := range []string{"Name:", "web", "Replicas:", "2", "Image:", "containous/whoami", "Networks:", "mynet"} {
		if !strings.Contains(out, want) {
			t.Errorf("pretty lacks %q:\n%s", want, out)
		}
	}
}

func TestContainerLs(t *testing.T) {
	sock := seedDaemon().serve(t)
	out, _, code := runCLI(t, sock, "", "container", "ls")
	want := "" +
		"CONTAINER ID   IMAGE                        COMMAND          CREATED          STATUS          PORTS     NAMES\n" +
		"36dce35d56e8   xiaopeng163/net-box:latest   \"ping 8.8.8.8\"   19 minutes ago   Up 19 minutes             client.1.sg9b3dqrgru4f14k2tpxzg2ei\n"
	if code != 0 || out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	out, _, _ = runCLI(t, sock, "", "ps", "-a", "--format", "{{.Names}}: {{.Status}}")
	if out != "client.1.sg9b3dqrgru4f14k2tpxzg2ei: Up 19 minutes\nweb.1.old0000000000000000000000: Exited (0) 2 minutes ago\n" {
		t.Errorf("ps -a: %q", out)
	}
	out, _, _ = runCLI(t, sock, "", "container", "ls", "-q", "--no-trunc")
	if out != "36dce35d56e87d43d08c5b9a94678fe789659cb3b1a5c9ddccd7de4b26e8d588\n" {
		t.Errorf("quiet: %q", out)
	}
}

func TestContainerInspectLogs(t *testing.T) {
	sock := seedDaemon().serve(t)
	out, errOut, code := runCLI(t, sock, "", "container", "inspect", "36dc")
	if code != 0 {
		t.Fatal(errOut)
	}
	var got []struct {
		Id, Name, Path string
		Args           []string
		State          struct {
			Status  string
			Running bool
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if g := got[0]; g.Name != "/client.1.sg9b3dqrgru4f14k2tpxzg2ei" || g.Path != "ping" || g.Args[0] != "8.8.8.8" || !g.State.Running {
		t.Errorf("%+v", g)
	}
	out, _, code = runCLI(t, sock, "", "container", "logs", "--tail", "2", "client.1.sg9b3dqrgru4f14k2tpxzg2ei")
	if code != 0 || out != "line2\nline3\n" {
		t.Errorf("logs: %d %q", code, out)
	}
	out, _, _ = runCLI(t, sock, "", "logs", "36dc")
	if out != "line1\nline2\nline3\n" {
		t.Errorf("all logs: %q", out)
	}
	_, errOut, code = runCLI(t, sock, "", "container", "logs", "nope")
	if code != 1 || errOut != "Error response from daemon: container nope not found\n" {
		t.Errorf("unknown: %d %q", code, errOut)
	}
}

func TestContainerExec(t *testing.T) {
	sock := seedDaemon().serve(t)
	out, _, code := runCLI(t, sock, "hello\nworld\n", "container", "exec", "-i", "36dc", "cat")
	if code != 0 || out != "hello\nworld\n" {
		t.Errorf("cat: %d %q", code, out)
	}
	out, errOut, code := runCLI(t, sock, "", "exec", "36dc", "exit", "3")
	if code != 3 || out != "" || errOut != "bye\n" {
		t.Errorf("exit status: %d %q %q", code, out, errOut)
	}
	out, _, code = runCLI(t, sock, "", "container", "exec", "-t", "-e", "A=1", "36dc", "tty", "-x")
	if code != 0 || out != "tty=true stdin=false env=[A=1]\n" {
		t.Errorf("tty: %d %q", code, out)
	}
	_, errOut, code = runCLI(t, sock, "", "container", "exec", "-it", "36dc", "sh")
	if code != 1 || errOut != "the input device is not a TTY\n" {
		t.Errorf("-it without a tty: %d %q", code, errOut)
	}
	_, errOut, code = runCLI(t, sock, "", "container", "exec", "36dc", "nosuch")
	if code != 1 || errOut != "Error response from daemon: exec: \"nosuch\": executable file not found in $PATH\n" {
		t.Errorf("bad command: %d %q", code, errOut)
	}
	_, errOut, code = runCLI(t, sock, "", "container", "exec", "zzz", "cat")
	if code != 1 || errOut != "Error response from daemon: container zzz not found\n" {
		t.Errorf("unknown container: %d %q", code, errOut)
	}
}

func TestCannotConnect(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "nobody.sock")
	for _, args := range [][]string{{"service", "ls"}, {"container", "logs", "x"}, {"container", "exec", "x", "sh"}, {"swarm", "init"}} {
		_, errOut, code := runCLI(t, sock, "", args...)
		want := "Cannot connect to the minsw daemon at unix://" + sock + ": is the daemon running?\n"
		if code != 1 || errOut != want {
			t.Errorf("%v: %d %q", args, code, errOut)
		}
	}
}

func TestHostFromEnv(t *testing.T) {
	sock := seedDaemon().serve(t)
	t.Setenv("MINSW_HOST", sock)
	var out, errb strings.Builder
	if code := run([]string{"network", "ls", "-q"}, strings.NewReader(""), &out, &errb); code != 0 || out.String() != "14fy2l7a4mci\nlpirdge00y3j\n" {
		t.Errorf("%d %q %q", code, out.String(), errb.String())
	}
}

func TestServiceCreateInterruptedDetaches(t *testing.T) {
	d := seedDaemon()
	d.unschedulable = "no suitable node (1 node not available for new tasks)"
	sock := d.serve(t)
	var out, errb strings.Builder
	c := cli.New(strings.NewReader(""), &out, &errb)
	c.Host = sock
	c.Progress.Stall = time.Hour
	cl, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := service.Wait(ctx, c, cl, "web", "web", service.WaitFlags{}); err != nil {
		t.Fatalf("interrupt is not an error: %v", err)
	}
	if want := "\nOperation continuing in background.\nUse `minsw service ps --no-trunc web` to check progress.\n"; errb.String() != want {
		t.Errorf("stderr %q", errb.String())
	}
}
