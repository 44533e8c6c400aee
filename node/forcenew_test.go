package node_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Two of three managers are lost for good: the third cannot write (no
// quorum) until `swarm init --force-new-cluster` makes it the one manager
// of the swarm from its own data, services kept.
func TestForceNewClusterRecoversALoneManager(t *testing.T) {
	base := t.TempDir()
	ms := make([]*daemon, 3)
	for i := range ms {
		ms[i] = startDaemonWith(t, fmt.Sprintf("fnc-m%d", i+1), filepath.Join(base, fmt.Sprintf("m%d", i+1)), freePort(t), steadyRaft...)
	}
	ms[0].ok("swarm", "init", "--advertise-addr", "127.0.0.1")
	token := strings.TrimSpace(ms[0].ok("swarm", "join-token", "-q", "manager"))
	for _, m := range ms[1:] {
		m.ok("swarm", "join", "--token", token, ms[0].listen)
	}
	ms[0].ok("service", "create", "--name", "kept", "--replicas", "0", "-d", "containous/whoami")
	eventually(t, 20*time.Second, func() string {
		if out, _ := ms[2].minsw("service", "ls"); !strings.Contains(out, "kept") {
			return "the last manager has not seen the service: " + out
		}
		return ""
	})
	ms[1].kill()
	ms[2].kill()
	lone := ms[0]
	eventually(t, 20*time.Second, func() string {
		if out, code := lone.minsw("service", "create", "--name", "nope", "--replicas", "0", "-d", "containous/whoami"); code == 0 {
			return "a write was accepted without quorum: " + out
		}
		return ""
	})

	out := lone.ok("swarm", "init", "--force-new-cluster")
	if !strings.Contains(out, "Swarm initialized: current node") || !strings.Contains(out, "minsw swarm join --token SWMTKN-1-") {
		t.Fatalf("swarm init --force-new-cluster:\n%s", out)
	}
	lone.ok("service", "create", "--name", "after", "--replicas", "0", "-d", "containous/whoami")
	out = lone.ok("service", "ls")
	if !strings.Contains(out, "kept") || !strings.Contains(out, "after") {
		t.Fatalf("service ls after recovery:\n%s", out)
	}
	out = lone.ok("node", "ls")
	if len(rows(out, `fnc-m1\s+Ready\s+Active\s+Leader`)) != 1 {
		t.Fatalf("node ls after recovery:\n%s", out)
	}
	// It stays recovered across a restart.
	lone.stop()
	lone.start()
	eventually(t, 20*time.Second, func() string {
		if out, code := lone.minsw("service", "create", "--name", "after-restart", "--replicas", "0", "-d", "containous/whoami"); code != 0 {
			return "write after restart: " + out
		}
		return ""
	})
}
