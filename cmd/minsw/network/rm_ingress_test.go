package network_test

import (
	"strings"
	"testing"

	"github.com/minsw/minsw/cmd/minsw/internal/clitest"
	"github.com/minsw/minsw/cmd/minsw/network"
)

// Removing the routing mesh asks first, as docker does; no (or no answer)
// keeps it; --force is for scripts. Other networks are not asked about.
func TestNetworkRmIngressAsksFirst(t *testing.T) {
	sock := clitest.Seed().Serve(t)
	for _, tc := range []struct {
		name    string
		stdin   string
		args    []string
		removed string
		asked   bool
	}{
		{"answer no", "n\n", []string{"network", "rm", "ingress"}, "", true},
		{"no answer", "", []string{"network", "rm", "ingress"}, "", true},
		{"answer yes", "y\n", []string{"network", "rm", "ingress"}, "ingress\n", true},
		{"--force", "", []string{"network", "rm", "--force", "ingress"}, "ingress\n", false},
		{"another network", "", []string{"network", "rm", "mynet"}, "mynet\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := clitest.Run(t, sock, tc.stdin, tc.args...)
			asked := strings.HasPrefix(out, network.IngressWarning)
			if code != 0 || errOut != "" || asked != tc.asked || strings.TrimPrefix(out, network.IngressWarning) != tc.removed {
				t.Errorf("exit %d, stdout %q, stderr %q; want asked=%v and %q", code, out, errOut, tc.asked, tc.removed)
			}
		})
	}
}
