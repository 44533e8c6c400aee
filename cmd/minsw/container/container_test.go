package container_test

import (
	"encoding/json"
	"testing"

	"github.com/minsw/minsw/cmd/minsw/internal/clitest"
)

func TestContainerLs(t *testing.T) {
	sock := clitest.Seed().Serve(t)
	out, _, code := clitest.Run(t, sock, "", "container", "ls")
	want := "" +
		"CONTAINER ID   IMAGE                        COMMAND          CREATED          STATUS          PORTS     NAMES\n" +
		"36dce35d56e8   xiaopeng163/net-box:latest   \"ping 8.8.8.8\"   19 minutes ago   Up 19 minutes             client.1.sg9b3dqrgru4f14k2tpxzg2ei\n"
	if code != 0 || out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	out, _, _ = clitest.Run(t, sock, "", "ps", "-a", "--format", "{{.Names}}: {{.Status}}")
	if out != "client.1.sg9b3dqrgru4f14k2tpxzg2ei: Up 19 minutes\nweb.1.old0000000000000000000000: Exited (0) 2 minutes ago\n" {
		t.Errorf("ps -a: %q", out)
	}
	out, _, _ = clitest.Run(t, sock, "", "container", "ls", "-q", "--no-trunc")
	if out != "36dce35d56e87d43d08c5b9a94678fe789659cb3b1a5c9ddccd7de4b26e8d588\n" {
		t.Errorf("quiet: %q", out)
	}
}

func TestContainerInspectLogs(t *testing.T) {
	sock := clitest.Seed().Serve(t)
	out, errOut, code := clitest.Run(t, sock, "", "container", "inspect", "36dc")
	if code != 0 {
		t.Fatal(errOut)
	}
	var got []struct {
		Id, Name, Path string
		Args           []string
		State          struct {
			Status  string
			Running bool
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if g := got[0]; g.Name != "/client.1.sg9b3dqrgru4f14k2tpxzg2ei" || g.Path != "ping" || g.Args[0] != "8.8.8.8" || !g.State.Running {
		t.Errorf("%+v", g)
	}
	out, _, code = clitest.Run(t, sock, "", "container", "logs", "--tail", "2", "client.1.sg9b3dqrgru4f14k2tpxzg2ei")
	if code != 0 || out != "line2\nline3\n" {
		t.Errorf("logs: %d %q", code, out)
	}
	out, _, _ = clitest.Run(t, sock, "", "logs", "36dc")
	if out != "line1\nline2\nline3\n" {
		t.Errorf("all logs: %q", out)
	}
	_, errOut, code = clitest.Run(t, sock, "", "container", "logs", "nope")
	if code != 1 || errOut != "Error response from daemon: container nope not found\n" {
		t.Errorf("unknown: %d %q", code, errOut)
	}
}

func TestContainerExec(t *testing.T) {
	sock := clitest.Seed().Serve(t)
	out, _, code := clitest.Run(t, sock, "hello\nworld\n", "container", "exec", "-i", "36dc", "cat")
	if code != 0 || out != "hello\nworld\n" {
		t.Errorf("cat: %d %q", code, out)
	}
	out, errOut, code := clitest.Run(t, sock, "", "exec", "36dc", "exit", "3")
	if code != 3 || out != "" || errOut != "bye\n" {
		t.Errorf("exit status: %d %q %q", code, out, errOut)
	}
	out, _, code = clitest.Run(t, sock, "", "container", "exec", "-t", "-e", "A=1", "36dc", "tty", "-x")
	if code != 0 || out != "tty=true stdin=false env=[A=1]\n" {
		t.Errorf("tty: %d %q", code, out)
	}
	_, errOut, code = clitest.Run(t, sock, "", "container", "exec", "-it", "36dc", "sh")
	if code != 1 || errOut != "the input device is not a TTY\n" {
		t.Errorf("-it without a tty: %d %q", code, errOut)
	}
	_, errOut, code = clitest.Run(t, sock, "", "container", "exec", "36dc", "nosuch")
	if code != 1 || errOut != "Error response from daemon: exec: \"nosuch\": executable file not found in $PATH\n" {
		t.Errorf("bad command: %d %q", code, errOut)
	}
	_, errOut, code = clitest.Run(t, sock, "", "container", "exec", "zzz", "cat")
	if code != 1 || errOut != "Error response from daemon: container zzz not found\n" {
		t.Errorf("unknown container: %d %q", code, errOut)
	}
}
