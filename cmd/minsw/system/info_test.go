package system_test

import (
	"strings"
	"testing"

	"github.com/minsw/minsw/cmd/minsw/internal/clitest"
)

// info has docker's Swarm section.
func TestInfoSwarmSection(t *testing.T) {
	sock := clitest.Seed().Serve(t)
	out, errOut, code := clitest.Run(t, sock, "", "info")
	if code != 0 {
		t.Fatalf("info: %d %s", code, errOut)
	}
	for _, want := range []string{
		"Client:\n Version:    0.1.0\n",
		"\nServer:\n Containers: 2\n  Running: 1\n  Paused: 0\n  Stopped: 1\n",
		" Swarm: active\n  NodeID: m1anager0000000000000000a\n  Is Manager: true\n",
		"  Node Address: 192.168.56.10\n",
		" Name: swarm-manager\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("info lacks %q:\n%s", want, out)
		}
	}
}
