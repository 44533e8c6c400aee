package node_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/minsw/minsw/client"
	"github.com/minsw/minsw/manager/encryption"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

const lockedMsg = `Swarm is encrypted and needs to be unlocked before it can be used. Please use "minsw swarm unlock" to unlock it.`

// unlock runs `minsw swarm unlock` with key on its stdin.
func (d *daemon) unlock(key string) (string, int) {
	cmd := exec.Command(binPath, "swarm", "unlock")
	cmd.Env = append(os.Environ(), "MINSW_HOST=unix://"+d.sock())
	cmd.Stdin = strings.NewReader(key + "\n")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		d.t.Fatal(err)
	}
	return string(out), 0
}

// localState is what Swarm.Info says of the node.
func (d *daemon) localState() string {
	d.t.Helper()
	cl, err := client.New("unix://" + d.sock())
	if err != nil {
		d.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := cl.Swarm.Info(ctx, &minswv1.InfoRequest{})
	if err != nil {
		d.t.Fatal(err)
	}
	return info.GetLocalNodeState()
}

func (d *daemon) restart() {
	d.t.Helper()
	d.stop()
	d.start()
}

// waitControl waits until the manager answers Control calls (a leader).
func (d *daemon) waitControl(t *testing.T) {
	t.Helper()
	eventually(t, 15*time.Second, func() string {
		if out, code := d.minsw("node", "ls"); code != 0 {
			return "node ls: " + out
		}
		return ""
	})
}

func (d *daemon) dekPath() string {
	return filepath.Join(d.dir, "data", "swarm", "raft", "dek.pem")
}

// grepRaft reports the files of d's raft directory holding s in clear.
func grepRaft(t *testing.T, d *daemon, s string) []string {
	t.Helper()
	var hits []string
	_ = filepath.Walk(filepath.Join(d.dir, "data", "swarm"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(s)) {
				hits = append(hits, p)
			}
		}
		return nil
	})
	return hits
}

// raftHolds says whether some raft entry of the stopped daemon d, opened
// with its DEK (kek: the unlock key's, nil when not wrapped), holds s.
func raftHolds(t *testing.T, d *daemon, kek []byte, s string) bool {
	t.Helper()
	dek, err := encryption.ReadDEK(d.dekPath(), kek)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := encryption.New(dek, encryption.PurposeRaft)
	if err != nil {
		t.Fatal(err)
	}
	db, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(d.dir, "data", "swarm", "raft", "raft.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	first, _ := db.FirstIndex()
	last, _ := db.LastIndex()
	for i := first; i <= last && i > 0; i++ {
		var l raft.Log
		if db.GetLog(i, &l) != nil || !encryption.IsSealed(l.Data) {
			continue
		}
		plain, err := aead.Open(l.Data)
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if bytes.Contains(plain, []byte(s)) {
			return true
		}
	}
	return false
}

func keyFileType(t *testing.T, d *daemon) string {
	b, err := os.ReadFile(filepath.Join(d.dir, "data", "swarm", "certificates", "swarm-node.key"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("key file is not PEM")
	}
	return blk.Type
}

var unlockKeyRE = regexp.MustCompile(`SWMKEY-1-[A-Za-z0-9+/]{43}`)

// Autolock as a user meets it: the key printed once at init; a restarted
// manager is locked (Info says so, Control calls are refused with Docker's
// message) until swarm unlock is given the right key; the raft files and
// the TLS key hold nothing in clear; a rotated key replaces the old one at
// the next restart; autolock off lets the manager restart by itself.
func TestAutolockThroughTheCLI(t *testing.T) {
	base := t.TempDir()
	mgr := startDaemon(t, "locked-manager", filepath.Join(base, "m"), freePort(t))
	out := mgr.ok("swarm", "init", "--advertise-addr", "127.0.0.1", "--autolock")
	key := unlockKeyRE.FindString(out)
	if key == "" || !strings.Contains(out, "minsw swarm unlock") {
		t.Fatalf("init --autolock printed:\n%s", out)
	}
	const secret = "autolocked-payroll-svc"
	mgr.ok("service", "create", "--name", secret, "--replicas", "1", "containous/whoami")
	if w, _ := encryption.DEKWrapped(mgr.dekPath()); !w {
		t.Fatal("the DEK is not wrapped by the unlock key")
	}
	if typ := keyFileType(t, mgr); typ != "MINSW SEALED PRIVATE KEY" {
		t.Fatalf("TLS key on disk is a %q", typ)
	}
	if out := mgr.ok("swarm", "unlock-key", "-q"); strings.TrimSpace(out) != key {
		t.Fatalf("unlock-key -q: %q, init printed %s", out, key)
	}

	mgr.stop()
	if hits := grepRaft(t, mgr, secret); len(hits) > 0 {
		t.Fatalf("service name in clear at rest: %v", hits)
	}
	kek, _ := encryption.KEK(key)
	if !raftHolds(t, mgr, kek, secret) {
		t.Fatal("the raft log, opened with the DEK, does not hold the service: the grep above proves nothing")
	}

	at := newAttack(t, "autolock: restarted manager used without the unlock key")
	mgr.start()
	if s := mgr.localState(); s != "locked" {
		t.Fatalf("after restart the node is %q, want locked", s)
	}
	for _, args := range [][]string{{"node", "ls"}, {"service", "ls"}, {"swarm", "unlock-key"}, {"service", "rm", secret}} {
		out, code := mgr.minsw(args...)
		at.try(code, out, lockedMsg)
	}
	at.done()

	at = newAttack(t, "autolock: swarm unlock with a wrong key")
	other, _ := encryption.NewUnlockKey()
	for _, k := range []string{other, key[:len(key)-2] + "AA", "SWMKEY-1-garbage", "", "SWMTKN-1-notakey"} {
		out, code := mgr.unlock(k)
		at.try(code, out, "swarm could not be unlocked: invalid key provided")
		if s := mgr.localState(); s != "locked" {
			t.Fatalf("after a wrong key the node is %q", s)
		}
	}
	at.done()

	if out, code := mgr.unlock(key); code != 0 {
		t.Fatalf("unlock with the key: exit %d %s", code, out)
	}
	if s := mgr.localState(); s != "active" {
		t.Fatalf("after unlock: %q", s)
	}
	eventually(t, 10*time.Second, func() string {
		if out, _ := mgr.minsw("service", "ls"); !strings.Contains(out, secret) || !strings.Contains(out, "1/1") {
			return "service ls:\n" + out
		}
		return ""
	})
	if out, code := mgr.unlock(key); code == 0 || !strings.Contains(out, "swarm is not locked") {
		t.Fatalf("unlock of an unlocked node: exit %d %s", code, out)
	}

	// Rotation: the new key wraps the DEK; the old one opens nothing.
	out = mgr.ok("swarm", "unlock-key", "--rotate")
	newKey := unlockKeyRE.FindString(out)
	if newKey == "" || newKey == key || !strings.Contains(out, "Successfully rotated manager unlock key.") {
		t.Fatalf("unlock-key --rotate printed:\n%s", out)
	}
	newKEK, _ := encryption.KEK(newKey)
	eventually(t, 10*time.Second, func() string {
		if _, err := encryption.ReadDEK(mgr.dekPath(), newKEK); err != nil {
			return "DEK not re-wrapped with the new key: " + err.Error()
		}
		return ""
	})
	mgr.restart()
	at = newAttack(t, "autolock: old unlock key after unlock-key --rotate")
	for range 3 {
		out, code := mgr.unlock(key)
		at.try(code, out, "invalid key provided")
	}
	at.done()
	if s := mgr.localState(); s != "locked" {
		t.Fatalf("after the old key: %q", s)
	}
	if out, code := mgr.unlock(newKey); code != 0 {
		t.Fatalf("unlock with the rotated key: exit %d %s", code, out)
	}
	if out := mgr.ok("service", "ls"); !strings.Contains(out, secret) {
		t.Fatalf("service ls after the rotated unlock:\n%s", out)
	}

	// Autolock off: the DEK is stored plain and the manager restarts by
	// itself; the raft data stays sealed (with a key beside it).
	if out := mgr.ok("swarm", "update", "--autolock=false"); strings.Contains(out, "SWMKEY") {
		t.Fatalf("update --autolock=false printed a key:\n%s", out)
	}
	eventually(t, 10*time.Second, func() string {
		if w, _ := encryption.DEKWrapped(mgr.dekPath()); w {
			return "DEK still wrapped"
		}
		if typ := keyFileType(t, mgr); typ != "EC PRIVATE KEY" && typ != "PRIVATE KEY" {
			return "TLS key is a " + typ
		}
		return ""
	})
	if out, code := mgr.minsw("swarm", "unlock-key"); code == 0 || !strings.Contains(out, "no unlock key is set") {
		t.Fatalf("unlock-key without autolock: exit %d %s", code, out)
	}
	mgr.restart()
	if s := mgr.localState(); s != "active" {
		t.Fatalf("without autolock the restarted node is %q", s)
	}
	mgr.waitControl(t)
	mgr.ok("service", "create", "--name", "plainly-kept-svc", "--replicas", "1", "containous/whoami")
	mgr.stop()
	if !raftHolds(t, mgr, nil, "plainly-kept-svc") {
		t.Fatal("without autolock the plain DEK does not open the raft log")
	}

	// And on again at runtime: update prints the new key, the next
	// restart needs it.
	mgr.start()
	mgr.waitControl(t)
	out = mgr.ok("swarm", "update", "--autolock=true")
	key3 := unlockKeyRE.FindString(out)
	if key3 == "" {
		t.Fatalf("update --autolock=true printed:\n%s", out)
	}
	eventually(t, 10*time.Second, func() string {
		if w, _ := encryption.DEKWrapped(mgr.dekPath()); !w {
			return "DEK not wrapped"
		}
		return ""
	})
	mgr.restart()
	if s := mgr.localState(); s != "locked" {
		t.Fatalf("after update --autolock=true and a restart: %q", s)
	}
	if out, code := mgr.unlock(key3); code != 0 {
		t.Fatalf("unlock: exit %d %s", code, out)
	}
	mgr.ok("node", "ls")
}

// attack is one row of the closing note's table (see manager's
// security_test.go): every attempt must be refused with the message.
type attack struct {
	t                 *testing.T
	name              string
	attempts, refused int
	last              string
}

func newAttack(t *testing.T, name string) *attack { return &attack{t: t, name: name} }

func (a *attack) try(code int, out, want string) {
	a.t.Helper()
	a.attempts++
	if code != 0 && strings.Contains(out, want) {
		a.refused++
		a.last = strings.TrimSpace(out)
		return
	}
	a.t.Errorf("%s: attempt %d not refused with %q: exit %d %s", a.name, a.attempts, want, code, out)
}

func (a *attack) done() {
	a.t.Helper()
	a.t.Logf("ATTACK | %s | %d | %d | %s", a.name, a.attempts, a.refused, a.last)
	if a.refused != a.attempts {
		a.t.Errorf("%s: %d of %d refused", a.name, a.refused, a.attempts)
	}
}

// Every manager keeps its own data key: a manager that joins an
// autolocked swarm wraps its DEK with the cluster's key, re-wraps it when
// the key rotates on another manager, and is locked at its restart.
func TestAutolockSecondManager(t *testing.T) {
	base := t.TempDir()
	m1 := startDaemonWith(t, "lock-m1", filepath.Join(base, "m1"), freePort(t), steadyRaft...)
	m2 := startDaemonWith(t, "lock-m2", filepath.Join(base, "m2"), freePort(t), steadyRaft...)
	key := unlockKeyRE.FindString(m1.ok("swarm", "init", "--advertise-addr", "127.0.0.1", "--autolock"))
	token := strings.TrimSpace(m1.ok("swarm", "join-token", "-q", "manager"))
	m2.ok("swarm", "join", "--token", token, m1.listen)
	wrappedWith := func(d *daemon, k string) func() string {
		return func() string {
			kek, _ := encryption.KEK(k)
			if _, err := encryption.ReadDEK(d.dekPath(), kek); err != nil {
				return d.name + ": DEK not wrapped with " + k + ": " + err.Error()
			}
			if typ := keyFileType(t, d); typ != "MINSW SEALED PRIVATE KEY" {
				return d.name + ": TLS key is a " + typ
			}
			return ""
		}
	}
	eventually(t, 15*time.Second, wrappedWith(m2, key))
	newKey := unlockKeyRE.FindString(m1.ok("swarm", "unlock-key", "--rotate"))
	eventually(t, 15*time.Second, wrappedWith(m1, newKey))
	eventually(t, 15*time.Second, wrappedWith(m2, newKey))
	m2.restart()
	if s := m2.localState(); s != "locked" {
		t.Fatalf("restarted second manager: %q", s)
	}
	if out, code := m2.unlock(key); code == 0 {
		t.Fatalf("old key unlocked the second manager: %s", out)
	}
	if out, code := m2.unlock(newKey); code != 0 {
		t.Fatalf("unlock: exit %d %s", code, out)
	}
	m2.waitControl(t)
	// MANAGER STATUS is not checked: a restarted manager stays
	// "Unreachable" on the leader with or without autolock (known bug).
	eventually(t, 15*time.Second, func() string {
		if out := m2.ok("node", "ls"); len(rows(out, `Ready\s+Active`)) != 2 {
			return "node ls:\n" + out
		}
		return ""
	})
}
