package identity

import (
	"bytes"
	"regexp"
	"testing"
)

func TestIDsAreBase36AndFixedLength(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-z]{25}$`)
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := NewID()
		if !re.MatchString(id) {
			t.Fatalf("id %q is not 25 base36 chars", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
}

func TestSmallRandomnessIsPadded(t *testing.T) {
	g := NewGenerator(bytes.NewReader(make([]byte, 16)))
	if id := g.NewID(); id != "0000000000000000000000000" {
		t.Fatalf("zero randomness gave %q", id)
	}
	if Short("jozc1x1c1zpyjl9b5j5abzm0g") != "jozc1x1c1zpy" {
		t.Fatal("short form is not the first 12 characters")
	}
}
