package node_test

import (
	"strings"
	"testing"

	"github.com/minsw/minsw/cmd/minsw/internal/clitest"
)

// node ps lists the tasks on a node, this one when none is named.
func TestNodePs(t *testing.T) {
	sock := clitest.Seed().Serve(t)
	out, errOut, code := clitest.Run(t, sock, "", "node", "ps", "-q", "swarm-worker1")
	if code != 0 || out != "pwi87g86kbxd\n" {
		t.Errorf("node ps swarm-worker1: %d %q %q", code, out, errOut)
	}
	out, _, code = clitest.Run(t, sock, "", "node", "ps", "swarm-worker2")
	if code != 0 || !strings.HasPrefix(out, "ID ") || !strings.Contains(out, "web.2 ") || !strings.Contains(out, "swarm-worker2") || strings.Contains(out, "web.1 ") {
		t.Errorf("node ps swarm-worker2:\n%s", out)
	}
	// The manager runs no task in the seed: a header only.
	out, errOut, code = clitest.Run(t, sock, "", "node", "ps", "-q")
	if code != 0 || out != "" {
		t.Errorf("node ps (self): %d %q %q", code, out, errOut)
	}
	_, errOut, code = clitest.Run(t, sock, "", "node", "ps", "nosuch")
	if code != 1 || !strings.Contains(errOut, "nosuch") {
		t.Errorf("node ps nosuch: %d %q", code, errOut)
	}
}
