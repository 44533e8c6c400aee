package agent

import (
	"bytes"
	"strings"
	"testing"
)

func TestLineWriterSendsWholeLines(t *testing.T) {
	long := strings.Repeat("x", maxLogChunk+10)
	for _, tc := range []struct {
		name   string
		writes []string
		want   []string
	}{
		{"lines split across writes", []string{"a\nb", "c\nd"}, []string{"a\n", "bc\n", "d"}},
		{"several lines in one message", []string{"a\nb\nc\n"}, []string{"a\nb\nc\n"}},
		{"an overlong line is cut", []string{long + "\n"}, []string{strings.Repeat("x", maxLogChunk-1) + "\n", "xxxxxxxxxxx\n"}},
		{"nothing written, nothing sent", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			w := &lineWriter{emit: func(b []byte) error { got = append(got, string(b)); return nil }}
			for _, s := range tc.writes {
				if n, err := w.Write([]byte(s)); err != nil || n != len(s) {
					t.Fatalf("write: %d %v", n, err)
				}
			}
			if err := w.flush(); err != nil {
				t.Fatal(err)
			}
			if g, w := strings.Join(got, "|"), strings.Join(tc.want, "|"); g != w {
				t.Errorf("got %d messages (%.60q...), want %d (%.60q...)", len(got), g, len(tc.want), w)
			}
		})
	}
}

func TestLineWriterBoundsMessages(t *testing.T) {
	var sizes []int
	w := &lineWriter{emit: func(b []byte) error { sizes = append(sizes, len(b)); return nil }}
	line := append(bytes.Repeat([]byte("y"), 99), '\n')
	_, _ = w.Write(bytes.Repeat(line, 1000)) // 100 KB of 100-byte lines
	total := 0
	for _, s := range sizes {
		if s > maxLogChunk || s%100 != 0 {
			t.Fatalf("message of %d bytes", s)
		}
		total += s
	}
	if total != 100000 {
		t.Fatalf("sent %d bytes of 100000", total)
	}
}
