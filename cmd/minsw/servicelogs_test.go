package main

import (
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/cmd/minsw/internal/task"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// ServiceLogs answers for the seed's web service: three lines per task, the
// last tail of them; "web-down" has its second task's node down.
func (d *fakeDaemon) ServiceLogs(r *minswv1.ServiceLogsRequest, s grpc.ServerStreamingServer[minswv1.LogLine]) error {
	if r.GetRef() != "web" && r.GetRef() != "web-down" {
		return status.Errorf(codes.NotFound, "no such task or service: %s", r.GetRef())
	}
	hosts := map[string]string{"w1orker000000000000000001": "swarm-worker1", "w2orker000000000000000002": "swarm-worker2"}
	d.mu.Lock()
	tasks := d.tasks
	d.mu.Unlock()
	for i, t := range tasks {
		base := &minswv1.LogLine{TaskId: t.Id, NodeId: t.NodeId, TaskName: task.ContainerName(t), NodeName: hosts[t.NodeId]}
		if r.GetRef() == "web-down" && i == 1 {
			base.Error = "node swarm-worker2 is down: its logs cannot be read"
			if err := s.Send(base); err != nil {
				return err
			}
			continue
		}
		lines := []string{"GET / 200\n", "GET /health 200\n", "no newline"}
		if n := int(r.GetTail()); n >= 0 && n < len(lines) {
			lines = lines[len(lines)-n:]
		}
		for _, l := range lines {
			m := proto.Clone(base).(*minswv1.LogLine)
			m.Data = []byte(l)
			if err := s.Send(m); err != nil {
				return err
			}
		}
	}
	return nil
}

func TestServiceLogs(t *testing.T) {
	sock := seedDaemon().serve(t)
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
			out, errOut, code := runCLI(t, sock, "", append([]string{"service", "logs"}, tc.args...)...)
			if code != 0 || out != tc.want {
				t.Errorf("exit %d %s\ngot\n%s\nwant\n%s", code, errOut, out, tc.want)
			}
		})
	}
}

func TestServiceLogsFaults(t *testing.T) {
	sock := seedDaemon().serve(t)
	out, errOut, code := runCLI(t, sock, "", "service", "logs", "-n", "1", "web-down")
	if code != 1 || out != "web.1.pwi87g86kbxd@swarm-worker1    | no newline\n" ||
		errOut != "error from web.2.xbri2akxy2e8@swarm-worker2: node swarm-worker2 is down: its logs cannot be read\nthe logs of 1 task could not be read\n" {
		t.Errorf("node down: exit %d\n%s\n%q", code, out, errOut)
	}
	_, errOut, code = runCLI(t, sock, "", "service", "logs", "nope")
	if code != 1 || !strings.Contains(errOut, "no such task or service: nope") {
		t.Errorf("unknown: exit %d %q", code, errOut)
	}
	_, errOut, code = runCLI(t, sock, "", "service", "logs", "--tail", "-2", "web")
	if code != 1 || !strings.Contains(errOut, "invalid value for --tail") {
		t.Errorf("bad tail: exit %d %q", code, errOut)
	}
}
