package procstat

import (
	"os"
	"testing"
)

// This process has a resident set, read alike through its PID and self; a
// PID that names no process has none.
func TestRSSKiB(t *testing.T) {
	self, ok := RSSKiB(0)
	if !ok || self <= 0 {
		t.Fatalf("own RSS %d %v", self, ok)
	}
	if byPID, ok := RSSKiB(os.Getpid()); !ok || byPID <= 0 {
		t.Fatalf("RSS by PID %d %v", byPID, ok)
	}
	if _, ok := RSSKiB(1 << 30); ok {
		t.Fatal("a PID that names no process has an RSS")
	}
}
