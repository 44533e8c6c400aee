package container_test

import (
	"testing"

	"github.com/minsw/minsw/cmd/minsw/internal/clitest"
)

func TestContainerLsFilter(t *testing.T) {
	sock := clitest.Seed().Serve(t)
	for _, tc := range []struct{ filter, want string }{
		{"name=client", "36dce35d56e8\n"},
		{"name=web", ""},
		{"status=running", "36dce35d56e8\n"},
		{"ancestor=xiaopeng163/net-box", "36dce35d56e8\n"},
		{"id=36dc", "36dce35d56e8\n"},
		{"id=ffff", ""},
	} {
		out, errOut, code := clitest.Run(t, sock, "", "container", "ls", "-q", "-f", tc.filter)
		if code != 0 || out != tc.want {
			t.Errorf("--filter %s: %d %q %q, want %q", tc.filter, code, out, errOut, tc.want)
		}
	}
	_, errOut, code := clitest.Run(t, sock, "", "container", "ls", "-f", "colour=red")
	if code != 1 || errOut != "invalid filter 'colour'\n" {
		t.Errorf("unknown key: %d %q", code, errOut)
	}
}
