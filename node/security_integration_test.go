package node_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The security commands through the real binary: certificates on disk are
// private, swarm update --cert-expiry is validated, swarm ca --rotate ends
// with every node on the new root while the swarm keeps serving, and a
// token from before the rotation is refused.
func TestSwarmCARotationThroughTheCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the nodes' certificate checks (30 s period)")
	}
	base := t.TempDir()
	mgr := startDaemon(t, "swarm-manager", filepath.Join(base, "m"), freePort(t))
	w1 := startDaemon(t, "swarm-worker1", filepath.Join(base, "w1"), freePort(t))
	out := mgr.ok("swarm", "init", "--advertise-addr", "127.0.0.1")
	m := regexp.MustCompile(`minsw swarm join --token (SWMTKN-1-\S+) (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("init printed %s", out)
	}
	oldToken, addr := m[1], m[2]
	w1.ok("swarm", "join", "--token", oldToken, addr)
	for _, f := range []string{"swarm-node.key", "swarm-node.crt", "swarm-root-ca.crt"} {
		fi, err := os.Stat(filepath.Join(base, "w1", "data", "swarm", "certificates", f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, fi, err)
		}
	}
	if out, code := mgr.minsw("swarm", "update", "--cert-expiry", "30m"); code == 0 || !strings.Contains(out, "too short") {
		t.Fatalf("30m expiry: exit %d %s", code, out)
	}
	mgr.ok("swarm", "update", "--cert-expiry", "48h")
	before := mgr.ok("swarm", "ca")
	start := time.Now()
	after := mgr.ok("swarm", "ca", "--rotate")
	if !strings.Contains(after, "BEGIN CERTIFICATE") || strings.Contains(after, strings.TrimSpace(before)) {
		t.Fatalf("root after rotation:\n%s\nbefore:\n%s", after, before)
	}
	t.Logf("swarm ca --rotate finished in %v", time.Since(start))
	mgr.ok("service", "create", "--name", "after-rotation", "--replicas", "1", "containous/whoami")
	eventually(t, 40*time.Second, func() string {
		if out := mgr.ok("node", "ls"); len(rows(out, `Ready\s+Active`)) != 2 {
			return "node ls:\n" + out
		}
		return ""
	})
	w2 := startDaemon(t, "swarm-worker2", filepath.Join(base, "w2"), freePort(t))
	if out, code := w2.minsw("swarm", "join", "--token", oldToken, addr); code == 0 || !strings.Contains(out, "does not match the join token's digest") {
		t.Fatalf("token from before the rotation: exit %d %s", code, out)
	}
	newToken := strings.TrimSpace(mgr.ok("swarm", "join-token", "-q", "worker"))
	w2.ok("swarm", "join", "--token", newToken, addr)
}
