package service_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/cmd/minsw/internal/clitest"
	"github.com/minsw/minsw/cmd/minsw/service"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

func TestServiceLsSeed(t *testing.T) {
	d := clitest.Seed()
	sock := d.Serve(t)
	t.Setenv("MINSW_VERIFY_SECONDS", "0")
	if _, errOut, code := clitest.Run(t, sock, "", "service", "create", "-d", "--name", "client", "--network", "mynet", "xiaopeng163/net-box:latest", "ping", "8.8.8.8"); code != 0 {
		t.Fatal(errOut)
	}
	// Let the toy orchestrator run the client task.
	for range 6 {
		clitest.Run(t, sock, "", "service", "ps", "-q", "client")
	}
	out, _, code := clitest.Run(t, sock, "", "service", "ls")
	want := "" +
		"ID             NAME      MODE         REPLICAS   IMAGE                        PORTS\n" +
		"skbcdfvgidwa   client    replicated   1/1        xiaopeng163/net-box:latest\n" +
		"jozc1x1c1zpy   web       replicated   2/2        containous/whoami:latest\n"
	if code != 0 || out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	out, _, _ = clitest.Run(t, sock, "", "service", "ls", "--format", "{{.ID}} {{.Name}} {{.Mode}} {{.Replicas}} {{.Image}}")
	if !strings.Contains(out, "jozc1x1c1zpy web replicated 2/2 containous/whoami:latest\n") {
		t.Errorf("format: %q", out)
	}
	if got := d.Services[1].Spec.Task.Container; got.Image != "xiaopeng163/net-box:latest" || strings.Join(got.Args, " ") != "ping 8.8.8.8" {
		t.Errorf("container spec: %v", got)
	}
}

func TestServicePs(t *testing.T) {
	d := clitest.Seed()
	// A replaced task in slot 1 shows as history under the current one.
	old := proto.Clone(d.Tasks[0]).(*minswv1.Task)
	old.Id = "oldtask000000000000000001"
	old.Meta = &minswv1.Meta{CreatedAt: timestamppb.New(d.Now.Add(-10 * time.Minute))}
	old.DesiredState = minswv1.TaskState_TASK_STATE_SHUTDOWN
	old.Status = &minswv1.TaskStatus{State: minswv1.TaskState_TASK_STATE_FAILED, Timestamp: timestamppb.New(d.Now.Add(-3 * time.Minute)), Err: "task: non-zero exit (1): a long reason for a crash"}
	d.Tasks = append(d.Tasks, old)
	sock := d.Serve(t)
	// The CLI's clock stays at the seed's instant: "47 seconds ago" on a
	// real clock needs the call to finish within a second of Seed.
	out, errOut, code := clitest.RunWith(t, sock, "", clitest.FrozenAt(d.Now), "service", "ps", "web")
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
	out, _, _ = clitest.Run(t, sock, "", "service", "ps", "--no-trunc", "--format", "{{.Name}}|{{.Error}}", "web")
	if !strings.Contains(out, ` \_ web.1.oldtask000000000000000001|"task: non-zero exit (1): a long reason for a crash"`) {
		t.Errorf("no-trunc: %q", out)
	}
	_, errOut, code = clitest.Run(t, sock, "", "service", "ps", "nope")
	if code != 1 || errOut != "Error response from daemon: service nope not found\n" {
		t.Errorf("unknown: %d %q", code, errOut)
	}
}

func TestServiceCreateProgressPlain(t *testing.T) {
	d := clitest.Seed()
	sock := d.Serve(t)
	t.Setenv("MINSW_VERIFY_SECONDS", "0.2")
	out, errOut, code := clitest.Run(t, sock, "", "service", "create", "--name", "client", "--network", "mynet", "--replicas", "2", "xiaopeng163/net-box:latest", "ping", "8.8.8.8")
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
	d := clitest.Seed()
	d.Unschedulable = "no suitable node (scheduling constraints not satisfied on 3 nodes)"
	sock := d.Serve(t)
	t.Setenv("MINSW_STALL_SECONDS", "0.3")
	out, errOut, code := clitest.Run(t, sock, "", "service", "create", "--name", "client", "--constraint", "node.labels.zone==mars", "busybox")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(out, "1/1: no suitable node (scheduling constraints not satisfied on 3 nodes)\n") {
		t.Errorf("stdout: %q", out)
	}
	if errOut != "service client cannot converge: 1/1: no suitable node (scheduling constraints not satisfied on 3 nodes)\n" {
		t.Errorf("stderr: %q", errOut)
	}
	if got := d.Services[1].Spec.Task.Placement.Constraints; len(got) != 1 || got[0] != "node.labels.zone==mars" {
		t.Errorf("constraints %v", got)
	}
}

func TestServiceCreateBadInput(t *testing.T) {
	sock := clitest.Seed().Serve(t)
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
		_, errOut, code := clitest.Run(t, sock, "", append([]string{"service", "create", "-d"}, tc.args...)...)
		if code != 1 || errOut != tc.want {
			t.Errorf("%v: exit %d\ngot  %q\nwant %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestServiceScaleUpdateRm(t *testing.T) {
	d := clitest.Seed()
	sock := d.Serve(t)
	t.Setenv("MINSW_VERIFY_SECONDS", "0")
	out, errOut, code := clitest.Run(t, sock, "", "service", "scale", "web=3")
	if code != 0 {
		t.Fatalf("scale: %d %s", code, errOut)
	}
	if !strings.HasPrefix(out, "web scaled to 3\noverall progress: 3 out of 3 tasks\n") || !strings.HasSuffix(out, "3/3: running   [==================================================>]\nverify: Service converged\n") {
		t.Errorf("scale output:\n%s", out)
	}
	_, errOut, code = clitest.Run(t, sock, "", "service", "scale", "web")
	if code != 1 || !strings.HasPrefix(errOut, "invalid scale specifier 'web'.") {
		t.Errorf("bad scale: %q", errOut)
	}

	out, errOut, code = clitest.Run(t, sock, "", "service", "update", "-d", "--env-add", "A=1", "--env-add", "B=2", "--constraint-add", "node.role==worker", "--image", "containous/whoami:v2", "--force", "web")
	if code != 0 || out != "web\n" {
		t.Fatalf("update: %d %q %q", code, out, errOut)
	}
	spec := d.Services[0].Spec
	if ct := spec.Task.Container; ct.Image != "containous/whoami:v2" || strings.Join(ct.Env, ",") != "A=1,B=2" ||
		spec.Task.Placement.Constraints[0] != "node.role==worker" || spec.Task.ForceUpdate != 1 || spec.GetReplicated().Replicas != 3 {
		t.Errorf("spec after update: %v", spec)
	}
	clitest.Run(t, sock, "", "service", "update", "-d", "--env-rm", "A", "--env-add", "B=3", "web")
	if got := strings.Join(d.Services[0].Spec.Task.Container.Env, ","); got != "B=3" {
		t.Errorf("env after rm: %s", got)
	}

	out, errOut, code = clitest.Run(t, sock, "", "service", "rm", "web", "nope")
	if code != 1 || out != "web\n" || errOut != "Error response from daemon: service nope not found\n" {
		t.Errorf("rm: %d %q %q", code, out, errOut)
	}
}

func TestServiceInspect(t *testing.T) {
	sock := clitest.Seed().Serve(t)
	out, errOut, code := clitest.Run(t, sock, "", "service", "inspect", "web")
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
	out, _, _ = clitest.Run(t, sock, "", "service", "inspect", "--pretty", "web")
	for _, want := range []string{"Name:", "web", "Replicas:", "2", "Image:", "containous/whoami", "Networks:", "mynet"} {
		if !strings.Contains(out, want) {
			t.Errorf("pretty lacks %q:\n%s", want, out)
		}
	}
}

func TestServiceCreateInterruptedDetaches(t *testing.T) {
	d := clitest.Seed()
	d.Unschedulable = "no suitable node (1 node not available for new tasks)"
	sock := d.Serve(t)
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
