package swarm_test

import (
	"testing"

	"github.com/minsw/minsw/cmd/minsw/internal/clitest"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

func TestSwarmInit(t *testing.T) {
	d := clitest.Seed()
	sock := d.Serve(t)
	out, errOut, code := clitest.Run(t, sock, "", "swarm", "init", "--advertise-addr", "192.168.56.10")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "Swarm initialized: current node (m1anager0000000000000000a) is now a manager.\n\n" +
		"To add a worker to this swarm, run the following command:\n\n" +
		"    minsw swarm join --token SWMTKN-1-worker 192.168.56.10:2377\n\n" +
		"To add a manager to this swarm, run 'minsw swarm join-token manager' and follow the instructions.\n\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	if d.LastInit.AdvertiseAddr != "192.168.56.10" || d.LastInit.ListenAddr != "" { // the daemon applies its own --listen-addr
		t.Errorf("init request: %v", d.LastInit)
	}
}

func TestSwarmJoin(t *testing.T) {
	d := clitest.Seed()
	sock := d.Serve(t)
	out, _, code := clitest.Run(t, sock, "", "swarm", "join", "--token", "SWMTKN-1-worker", "192.168.56.10:2377")
	if code != 0 || out != "This node joined a swarm as a worker.\n" {
		t.Errorf("join: %d %q", code, out)
	}
	if got := d.LastJoin.RemoteAddrs; len(got) != 1 || got[0] != "192.168.56.10:2377" {
		t.Errorf("remote addrs %v", got)
	}
	_, errOut, code := clitest.Run(t, sock, "", "swarm", "join", "--token", "bad", "192.168.56.10:2377")
	if code != 1 || errOut != "Error response from daemon: invalid join token\n" {
		t.Errorf("wrong token: %d %q", code, errOut)
	}
}

func TestSwarmJoinToken(t *testing.T) {
	d := clitest.Seed()
	sock := d.Serve(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"worker"}, "To add a worker to this swarm, run the following command:\n\n    minsw swarm join --token SWMTKN-1-worker 192.168.56.10:2377\n\n"},
		{[]string{"manager"}, "To add a manager to this swarm, run the following command:\n\n    minsw swarm join --token SWMTKN-1-manager 192.168.56.10:2377\n\n"},
		{[]string{"-q", "worker"}, "SWMTKN-1-worker\n"},
		{[]string{"--rotate", "-q", "manager"}, "SWMTKN-1-manager-rotated\n"},
	} {
		out, errOut, code := clitest.Run(t, sock, "", append([]string{"swarm", "join-token"}, tc.args...)...)
		if code != 0 || out != tc.want {
			t.Errorf("join-token %v: exit %d %q\ngot  %q\nwant %q", tc.args, code, errOut, out, tc.want)
		}
	}
	_, errOut, code := clitest.Run(t, sock, "", "swarm", "join-token", "boss")
	if code != 1 || errOut != "unknown role boss\n" {
		t.Errorf("bad role: %d %q", code, errOut)
	}
}

// TestSwarmInitJoinAvailability: --availability starts the node with it,
// as docker's; a value docker does not know is refused before any call.
func TestSwarmInitJoinAvailability(t *testing.T) {
	d := clitest.Seed()
	sock := d.Serve(t)
	if _, errOut, code := clitest.Run(t, sock, "", "swarm", "init", "--availability", "drain"); code != 0 {
		t.Fatalf("init --availability drain: exit %d: %s", code, errOut)
	}
	if got := d.LastInit.GetAvailability(); got != minswv1.NodeAvailability_NODE_AVAILABILITY_DRAIN {
		t.Errorf("init request availability %v, want drain", got)
	}
	if _, errOut, code := clitest.Run(t, sock, "", "swarm", "join", "--availability", "Pause", "--token", "SWMTKN-1-worker", "192.168.56.10:2377"); code != 0 {
		t.Fatalf("join --availability Pause: exit %d: %s", code, errOut)
	}
	if got := d.LastJoin.GetAvailability(); got != minswv1.NodeAvailability_NODE_AVAILABILITY_PAUSE {
		t.Errorf("join request availability %v, want pause", got)
	}
	d.LastJoin = nil
	_, errOut, code := clitest.Run(t, sock, "", "swarm", "join", "--availability", "off", "--token", "SWMTKN-1-worker", "192.168.56.10:2377")
	if code == 0 || errOut != "invalid availability \"off\": must be one of active, pause, drain\n" || d.LastJoin != nil {
		t.Errorf("join --availability off: exit %d %q, request %v", code, errOut, d.LastJoin)
	}
}
