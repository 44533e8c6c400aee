package service_test

import (
	"testing"

	"github.com/minsw/minsw/cmd/minsw/internal/clitest"
)

func TestServiceLsFilter(t *testing.T) {
	sock := clitest.Seed().Serve(t)
	for _, tc := range []struct{ filter, want string }{
		{"name=we", "jozc1x1c1zpy\n"},
		{"name=client", ""},
		{"mode=replicated", "jozc1x1c1zpy\n"},
		{"mode=global", ""},
	} {
		out, errOut, code := clitest.Run(t, sock, "", "service", "ls", "-q", "--filter", tc.filter)
		if code != 0 || out != tc.want {
			t.Errorf("--filter %s: %d %q %q, want %q", tc.filter, code, out, errOut, tc.want)
		}
	}
	_, errOut, code := clitest.Run(t, sock, "", "service", "ls", "-f", "name")
	if code != 1 || errOut != "bad format of filter (expected name=value)\n" {
		t.Errorf("bad filter: %d %q", code, errOut)
	}
	_, errOut, code = clitest.Run(t, sock, "", "service", "ls", "-f", "colour=red")
	if code != 1 || errOut != "Error response from daemon: invalid filter 'colour'\n" {
		t.Errorf("unknown key: %d %q", code, errOut)
	}
}
