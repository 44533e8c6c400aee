package node_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/minsw/minsw/cmd/minsw/internal/clitest"
)

func TestNodeLs(t *testing.T) {
	d := clitest.Seed()
	d.Nodes[0].ManagerStatus = nil
	sock := d.Serve(t)
	out, errOut, code := clitest.Run(t, sock, "", "node", "ls")
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
	out, _, _ = clitest.Run(t, sock, "", "node", "ls", "--format", "{{.Hostname}}: {{.ManagerStatus}}")
	if out != "swarm-manager: Leader\nswarm-worker1: \nswarm-worker2: \n" {
		t.Errorf("format: %q", out)
	}
	out, _, _ = clitest.Run(t, sock, "", "node", "ls", "-q")
	if out != "m1anager0000000000000000a\nw1orker000000000000000001\nw2orker000000000000000002\n" {
		t.Errorf("quiet: %q", out)
	}
}

func TestNodeUpdatePromoteRemove(t *testing.T) {
	d := clitest.Seed()
	sock := d.Serve(t)
	out, errOut, code := clitest.Run(t, sock, "", "node", "update", "--availability", "drain", "--label-add", "zone=a", "swarm-worker1")
	if code != 0 || out != "swarm-worker1\n" {
		t.Fatalf("update: %d %q %q", code, out, errOut)
	}
	if n := d.Nodes[2]; n.Spec.Availability.String() != "NODE_AVAILABILITY_DRAIN" || n.Spec.Labels["zone"] != "a" {
		t.Errorf("node spec %v", n.Spec)
	}
	_, errOut, code = clitest.Run(t, sock, "", "node", "update", "--availability", "sleep", "swarm-worker1")
	if code != 1 || !strings.Contains(errOut, `invalid availability "sleep"`) {
		t.Errorf("bad availability: %d %q", code, errOut)
	}
	out, _, code = clitest.Run(t, sock, "", "node", "promote", "swarm-worker1", "swarm-manager")
	if code != 0 || out != "Node swarm-worker1 promoted to a manager in the swarm.\nNode swarm-manager is already a manager.\n" {
		t.Errorf("promote: %d %q", code, out)
	}
	out, _, code = clitest.Run(t, sock, "", "node", "demote", "swarm-worker1")
	if code != 0 || out != "Manager swarm-worker1 demoted in the swarm.\n" {
		t.Errorf("demote: %d %q", code, out)
	}
	out, errOut, code = clitest.Run(t, sock, "", "node", "rm", "swarm-worker2", "nope")
	if code != 1 || out != "" || errOut != "Error response from daemon: node swarm-worker2 is not down and can't be removed\nError response from daemon: node nope not found\n" {
		t.Errorf("rm: %d %q %q", code, out, errOut)
	}
}

func TestNodeInspect(t *testing.T) {
	d := clitest.Seed()
	sock := d.Serve(t)
	out, errOut, code := clitest.Run(t, sock, "", "node", "inspect", "self")
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
	out, _, _ = clitest.Run(t, sock, "", "node", "inspect", "--pretty", "swarm-manager")
	for _, want := range []string{"Hostname:", "swarm-manager", "Leader:", "Yes", "Address:", "192.168.56.10:2377"} {
		if !strings.Contains(out, want) {
			t.Errorf("pretty lacks %q:\n%s", want, out)
		}
	}
}
