package node_test

import (
	"strings"
	"testing"

	"github.com/minsw/minsw/cmd/minsw/internal/clitest"
)

// Two nodes reporting one hostname are flagged under node ls (on stderr,
// so the table a script reads is unchanged).
func TestNodeLsFlagsDuplicateHostnames(t *testing.T) {
	d := clitest.Seed()
	sock := d.Serve(t)
	out, errOut, code := clitest.Run(t, sock, "", "node", "ls")
	if code != 0 || errOut != "" {
		t.Fatalf("distinct hostnames: exit %d, stderr %q", code, errOut)
	}
	d.Nodes[2].Description.Hostname = "SWARM-manager"
	out2, errOut, code := clitest.Run(t, sock, "", "node", "ls")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	id := d.Nodes[2].Id[:12]
	if !strings.HasPrefix(errOut, "WARNING: nodes ") || !strings.Contains(errOut, "m1anager0000") || !strings.Contains(errOut, id) ||
		!strings.Contains(errOut, "report the same hostname") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("stderr:\n%s\nwant a warning naming m1anager0000 and %s", errOut, id)
	}
	if strings.Count(out2, "\n") != strings.Count(out, "\n") {
		t.Fatalf("table changed:\n%s", out2)
	}
	if _, errOut, _ := clitest.Run(t, sock, "", "node", "ls", "-q"); errOut != "" {
		t.Fatalf("quiet listing warned: %q", errOut)
	}
}
