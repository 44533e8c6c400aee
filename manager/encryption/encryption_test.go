package encryption

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	k, _ := NewKey()
	other, _ := NewKey()
	a, _ := New(k, PurposeRaft)
	sealed, err := a.Seal([]byte("service web"))
	if err != nil {
		t.Fatal(err)
	}
	wrongKey, _ := New(other, PurposeRaft)
	wrongPurpose, _ := New(k, PurposeNodeKey)
	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1
	for _, tc := range []struct {
		name string
		a    *AEAD
		in   []byte
		ok   bool
	}{
		{"same key and purpose", a, sealed, true},
		{"another key", wrongKey, sealed, false},
		{"a raft entry passed off as a node key", wrongPurpose, sealed, false},
		{"one bit flipped", a, tampered, false},
		{"plain data", a, []byte("\x0a\x03web"), false},
		{"truncated", a, sealed[:10], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.a.Open(tc.in)
			if tc.ok != (err == nil) || (tc.ok && string(got) != "service web") {
				t.Fatalf("Open: %q, %v", got, err)
			}
		})
	}
	if !IsSealed(sealed) || IsSealed([]byte("\x0a\x03web")) {
		t.Fatal("IsSealed")
	}
}

func TestUnlockKeys(t *testing.T) {
	k, err := NewUnlockKey()
	if err != nil || !strings.HasPrefix(k, "SWMKEY-1-") || len(k) != len("SWMKEY-1-")+43 {
		t.Fatalf("%q %v", k, err)
	}
	kek, err := KEK(k)
	if err != nil || len(kek) != KeySize {
		t.Fatal(err)
	}
	if again, _ := KEK(" " + k + "\n"); string(again) != string(kek) {
		t.Fatal("surrounding space changes the KEK")
	}
	for _, bad := range []string{"", "SWMKEY-1-", "SWMKEY-2-" + k[9:], k[:len(k)-1], k + "A", "SWMTKN-1-abc", "SWMKEY-1-!!!!"} {
		if _, err := KEK(bad); !errors.Is(err, ErrInvalidUnlockKey) {
			t.Errorf("KEK(%q): %v", bad, err)
		}
	}
}

func TestDEKFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "raft", "dek.pem")
	dek, _ := NewKey()
	kek, _ := NewKey()
	other, _ := NewKey()
	if err := WriteDEK(p, dek, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadDEK(p, nil); err != nil || string(got) != string(dek) {
		t.Fatalf("plain: %v", err)
	}
	if err := WriteDEK(p, dek, kek); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if w, _ := DEKWrapped(p); !w {
		t.Fatal("not wrapped")
	}
	if _, err := ReadDEK(p, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("no KEK: %v", err)
	}
	if _, err := ReadDEK(p, other); !errors.Is(err, ErrInvalidUnlockKey) {
		t.Fatalf("wrong KEK: %v", err)
	}
	if got, err := ReadDEK(p, kek); err != nil || string(got) != string(dek) {
		t.Fatalf("right KEK: %v", err)
	}
	if b, _ := os.ReadFile(p); strings.Contains(string(b), string(dek)) {
		t.Fatal("wrapped file holds the DEK")
	}
}
