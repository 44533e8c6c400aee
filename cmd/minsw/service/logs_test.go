package service_test

import (
	"strings"
	"testing"

	"github.com/minsw/minsw/cmd/minsw/internal/clitest"
)

func TestServiceLogs(t *testing.T) {
	sock := clitest.Seed().Serve(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"prefixed like docker's", []string{"web"}, "" +
			"web.1.pwi87g86kbxd@swarm-worker1    | GET / 200\n" +
			"web.1.pwi87g86kbxd@swarm-worker1    | GET /health 200\n" +
			"web.1.pwi87g86kbxd@swarm-worker1    | no newline\n" +
			"web.2.xbri2akxy2e8@swarm-worker2    | GET / 200\n" +
			"web.2.xbri2akxy2e8@swarm-worker2    | GET /health 200\n" +
			"web.2.xbri2akxy2e8@swarm-worker2    | no newline\n"},
		{"tail 1", []string{"--tail", "1", "web"}, "" +
			"web.1.pwi87g86kbxd@swarm-worker1    | no newline\n" +
			"web.2.xbri2akxy2e8@swarm-worker2    | no newline\n"},
		{"no task ids", []string{"--no-task-ids", "-n", "1", "web"}, "" +
			"web.1@swarm-worker1    | no newline\n" +
			"web.2@swarm-worker2    | no newline\n"},
		{"no trunc", []string{"--no-trunc", "-n", "1", "web"}, "" +
			"web.1.pwi87g86kbxdq8wzfs1lkbgqc@swarm-worker1    | no newline\n" +
			"web.2.xbri2akxy2e8yol8rfinx9s2d@swarm-worker2    | no newline\n"},
		{"raw", []string{"--raw", "-n", "2", "web"}, "GET /health 200\nno newline\nGET /health 200\nno newline\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := clitest.Run(t, sock, "", append([]string{"service", "logs"}, tc.args...)...)
			if code != 0 || out != tc.want {
				t.Errorf("exit %d %s\ngot\n%s\nwant\n%s", code, errOut, out, tc.want)
			}
		})
	}
}

func TestServiceLogsFaults(t *testing.T) {
	sock := clitest.Seed().Serve(t)
	out, errOut, code := clitest.Run(t, sock, "", "service", "logs", "-n", "1", "web-down")
	if code != 1 || out != "web.1.pwi87g86kbxd@swarm-worker1    | no newline\n" ||
		errOut != "error from web.2.xbri2akxy2e8@swarm-worker2: node swarm-worker2 is down: its logs cannot be read\nthe logs of 1 task could not be read\n" {
		t.Errorf("node down: exit %d\n%s\n%q", code, out, errOut)
	}
	_, errOut, code = clitest.Run(t, sock, "", "service", "logs", "nope")
	if code != 1 || !strings.Contains(errOut, "no such task or service: nope") {
		t.Errorf("unknown: exit %d %q", code, errOut)
	}
	_, errOut, code = clitest.Run(t, sock, "", "service", "logs", "--tail", "-2", "web")
	if code != 1 || !strings.Contains(errOut, "invalid value for --tail") {
		t.Errorf("bad tail: exit %d %q", code, errOut)
	}
}
