package jointoken

import (
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	tok, err := New([]byte("ca cert"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := tok.String()
	if !strings.HasPrefix(s, "SWMTKN-1-") || len(s) != len("SWMTKN-1-")+50+1+25 {
		t.Fatalf("token %q has the wrong shape", s)
	}
	got, err := Parse(s)
	if err != nil || got != tok {
		t.Fatalf("parse: %v %v", got, err)
	}
	if got.Digest != Digest([]byte("ca cert")) || got.Digest == Digest([]byte("other ca")) {
		t.Fatal("digest does not identify the CA")
	}
}

func TestMalformedTokensExplained(t *testing.T) {
	for _, s := range []string{"", "hello", "SWMTKN-1-abc-def", "SWMTKN-2-" + strings.Repeat("a", 50) + "-" + strings.Repeat("b", 25)} {
		if _, err := Parse(s); err == nil || !strings.Contains(err.Error(), "invalid join token") {
			t.Errorf("%q: %v", s, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	tok, _ := New([]byte("x"), nil)
	f.Add(tok.String())
	f.Add("SWMTKN-1-")
	f.Fuzz(func(t *testing.T, s string) {
		tk, err := Parse(s)
		if err == nil && tk.String() != strings.TrimSpace(s) {
			t.Fatalf("parse(%q) = %q", s, tk.String())
		}
	})
}
