package node_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --opt encrypted through the CLI on this kernel (no ESP, no GCM): the
// manager refuses at create with the missing features named, and nothing
// is created; a value that Docker would read as "encrypt" anyway is
// refused too.
func TestEncryptedOverlayRefusedThroughTheCLI(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the manager's kernel probe needs CAP_NET_ADMIN (else it refuses as undecidable)")
	}
	mgr := startDaemon(t, "crypt-manager", filepath.Join(t.TempDir(), "m"), freePort(t))
	mgr.ok("swarm", "init", "--advertise-addr", "127.0.0.1")
	at := newAttack(t, "overlay --opt encrypted on a kernel without ESP/GCM")
	for _, args := range [][]string{
		{"network", "create", "-d", "overlay", "--opt", "encrypted", "mynet"},
		{"network", "create", "--opt", "encrypted=true", "mynet"},
		{"network", "create", "-d", "overlay", "-o", "encrypted", "--attachable", "mynet2"},
	} {
		out, code := mgr.minsw(args...)
		at.try(code, out, "is encrypted but this node's kernel has no IPsec ESP (CONFIG_INET_ESP) / AES-GCM (CONFIG_CRYPTO_GCM)")
	}
	at.done()
	if out, code := mgr.minsw("network", "create", "--opt", "encrypted=false", "mynet"); code == 0 || !strings.Contains(out, `invalid value "false" for option encrypted`) {
		t.Fatalf("encrypted=false: exit %d %s", code, out)
	}
	if out := mgr.ok("network", "ls"); strings.Contains(out, "mynet") {
		t.Fatalf("a refused network was created:\n%s", out)
	}
	mgr.ok("network", "create", "-d", "overlay", "plainnet")
}
