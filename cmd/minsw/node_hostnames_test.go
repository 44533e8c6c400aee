package main

import (
	"strings"
	"testing"
)

// Two nodes reporting one hostname are flagged under node ls (on stderr,
// so the table a script reads is unchanged).
func TestNodeLsFlagsDuplicateHostnames(t *testing.T) {
	d := seedDaemon()
	sock := d.serve(t)
	out, errOut, code := runCLI(t, sock, "", "node", "ls")
	if code != 0 || errOut != "" {
		t.Fatalf("distinct hostnames: exit %d, stderr %q", code, errOut)
	}
	d.nodes[2].Description.Hostname = "SWARM-manager"
	out2, errOut, code := runCLI(t, sock, "", "node", "ls")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	id := d.nodes[2].Id[:12]
	if !strings.HasPrefix(errOut, "WARNING: nodes ") || !strings.Contains(errOut, "m1anager0000") || !strings.Contains(errOut, id) ||
		!strings.Contains(errOut, "report the same hostname") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("stderr:\n%s\nwant a warning naming m1anager0000 and %s", errOut, id)
	}
	if strings.Count(out2, "\n") != strings.Count(out, "\n") {
		t.Fatalf("table changed:\n%s", out2)
	}
	if _, errOut, _ := runCLI(t, sock, "", "node", "ls", "-q"); errOut != "" {
		t.Fatalf("quiet listing warned: %q", errOut)
	}
}
