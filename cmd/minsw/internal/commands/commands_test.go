package commands_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/minsw/minsw/cmd/minsw/internal/clitest"
)

func TestCannotConnect(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "nobody.sock")
	for _, args := range [][]string{{"service", "ls"}, {"container", "logs", "x"}, {"container", "exec", "x", "sh"}, {"swarm", "init"}} {
		_, errOut, code := clitest.Run(t, sock, "", args...)
		want := "Cannot connect to the minsw daemon at unix://" + sock + ": is the daemon running?\n"
		if code != 1 || errOut != want {
			t.Errorf("%v: %d %q", args, code, errOut)
		}
	}
}

func TestHostFromEnv(t *testing.T) {
	sock := clitest.Seed().Serve(t)
	t.Setenv("MINSW_HOST", sock)
	var out, errb strings.Builder
	if code := clitest.Exec([]string{"network", "ls", "-q"}, strings.NewReader(""), &out, &errb); code != 0 || out.String() != "14fy2l7a4mci\nlpirdge00y3j\n" {
		t.Errorf("%d %q %q", code, out.String(), errb.String())
	}
}

// As docker: an unknown subcommand is an error (exit 1) that names it; a
// group given nothing prints its help and succeeds.
func TestUnknownCommandsAreRefused(t *testing.T) {
	sock := clitest.Seed().Serve(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"service", "frobnicate"}, "unknown command: minsw service frobnicate\nSee 'minsw service --help'.\n"},
		{[]string{"node", "bogus"}, "unknown command: minsw node bogus\nSee 'minsw node --help'.\n"},
		{[]string{"frobnicate"}, "unknown command: minsw frobnicate\nSee 'minsw --help'.\n"},
	} {
		out, errOut, code := clitest.Run(t, sock, "", tc.args...)
		if code != 1 || errOut != tc.want || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
	out, _, code := clitest.Run(t, sock, "", "service")
	if code != 0 || !strings.Contains(out, "Usage:") {
		t.Errorf("bare group: exit %d, %q", code, out)
	}
}

func TestVersion(t *testing.T) {
	sock := clitest.Seed().Serve(t)
	out, _, code := clitest.Run(t, sock, "", "--version")
	if code != 0 || out != "minsw version 0.1.0\n" {
		t.Errorf("--version: %d %q", code, out)
	}
	out, errOut, code := clitest.Run(t, sock, "", "version")
	if code != 0 || !strings.HasPrefix(out, "Client:\n Version:           0.1.0\n") || !strings.Contains(out, "\nServer: minsw daemon\n Engine:\n  Version:          0.1.0\n") {
		t.Errorf("version: %d %q %q", code, out, errOut)
	}
	out, errOut, code = clitest.Run(t, t.TempDir()+"/none.sock", "", "version")
	if code != 1 || !strings.HasPrefix(out, "Client:\n") || !strings.Contains(errOut, "Cannot connect to the minsw daemon") {
		t.Errorf("version without a daemon: %d %q %q", code, out, errOut)
	}
}
