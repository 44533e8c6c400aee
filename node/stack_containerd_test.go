package node_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/agent"
	"github.com/minsw/minsw/worker/executor"
)

// TestStackContainerd deploys a two-service stack with real containers and
// checks what its users rely on: inside the client, the web service's short
// name, its alias and its full name resolve to its VIP, which answers;
// stack rm leaves no container and no network namespace of the stack.
func TestStackContainerd(t *testing.T) {
	c := startContainerdNode(t, "minsw-stacktest")
	file := filepath.Join(c.dir, "compose.yml")
	if err := os.WriteFile(file, []byte(`services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo hello-from-$$HOSTNAME > /www/index.html && exec httpd -f -p 80 -h /www"]
    networks:
      front:
        aliases: [www]
  client:
    image: busybox
    command: sleep 3600
    networks: [front]
networks:
  front:
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := c.minsw("stack", "deploy", "-c", file, "app"); code != 0 {
		t.Fatalf("stack deploy: exit %d\n%s", code, out)
	}

	var client *minswv1.Task
	if !within(90*time.Second, func() bool {
		r, err := c.cl.Control.ListTasks(c.ctx, &minswv1.ListTasksRequest{})
		if err != nil {
			return false
		}
		running := 0
		for _, tk := range r.GetTasks() {
			if tk.GetStatus().GetState() == minswv1.TaskState_TASK_STATE_RUNNING {
				running++
				if tk.GetServiceName() == "app_client" {
					client = tk
				}
			}
		}
		return running == 2 && client != nil
	}) {
		out, _ := c.minsw("stack", "ps", "app")
		t.Fatalf("the stack did not come up:\n%s", out)
	}
	cid := agent.ContainerID(client.GetId())
	for _, name := range []string{"web", "www", "app_web"} {
		var out, errb bytes.Buffer
		ok := within(20*time.Second, func() bool {
			out.Reset()
			errb.Reset()
			// The test image's busybox is glibc-static: its wget crashes in
			// the resolver, so the name goes through nslookup against the
			// embedded DNS and the request through nc.
			script := "ip=$(nslookup " + name + " 127.0.0.11 | awk '/^Address: /{print $2}' | tail -n1); printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 $ip 80 | tail -n1"
			code, err := c.ex.Exec(c.ctx, cid, executor.ExecConfig{Cmd: []string{"sh", "-c", script}, Stdout: &out, Stderr: &errb})
			return err == nil && code == 0 && strings.HasPrefix(out.String(), "hello-from-")
		})
		if !ok {
			lb, _ := c.minsw("lb", "inspect", "app_front")
			t.Errorf("http://%s/ from the client: %q %q\nlb inspect:\n%s", name, out.String(), errb.String(), lb)
		}
	}

	if out, code := c.minsw("stack", "rm", "--detach=false", "app"); code != 0 {
		t.Fatalf("stack rm: exit %d\n%s", code, out)
	}
	if !within(30*time.Second, func() bool {
		r, err := c.cl.Containers.ListContainers(c.ctx, &minswv1.ListContainersRequest{All: true})
		return err == nil && len(r.GetContainers()) == 0
	}) {
		out, _ := c.minsw("container", "ls", "-a")
		t.Errorf("containers left after stack rm:\n%s", out)
	}
}
