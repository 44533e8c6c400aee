package logfile

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 123456789, time.UTC)

func TestAppendParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    Entry
		rec  string
	}{
		{"a stdout line", Entry{Time: t0, Line: []byte("hello\n")}, "2026-12-03T12:00:00.123456789Z stdout F hello\n"},
		{"a stderr line", Entry{Time: t0, Stderr: true, Line: []byte("oops\n")}, "2026-12-03T12:00:00.123456789Z stderr F oops\n"},
		{"a piece of a line", Entry{Time: t0, Line: []byte("to be continued")}, "2026-12-03T12:00:00.123456789Z stdout P to be continued\n"},
		{"an empty line", Entry{Time: t0, Line: []byte("\n")}, "2026-12-03T12:00:00.123456789Z stdout F \n"},
		{"spaces kept", Entry{Time: t0, Line: []byte("  a  b \n")}, "2026-12-03T12:00:00.123456789Z stdout F   a  b \n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := Append(nil, tc.e)
			if string(rec) != tc.rec {
				t.Fatalf("Append = %q, want %q", rec, tc.rec)
			}
			got, err := Parse(rec)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Time.Equal(tc.e.Time) || got.Stderr != tc.e.Stderr || string(got.Line) != string(tc.e.Line) {
				t.Fatalf("Parse = %+v, want %+v", got, tc.e)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	for _, bad := range []string{"", "hello world\n", "2026-12-03T12:00:00Z stdin F x\n", "2026-12-03T12:00:00Z stdout X x\n", "2026-12-03T12:00:00Z stdout F"} {
		if _, err := Parse([]byte(bad)); !errors.Is(err, ErrBadRecord) {
			t.Errorf("Parse(%q) = %v, want ErrBadRecord", bad, err)
		}
	}
}

func TestCutter(t *testing.T) {
	c := Cutter{Stderr: true, Now: func() time.Time { return t0 }}
	var out []byte
	out = c.Write(out, []byte("one\ntw"))
	out = c.Write(out, []byte("o\nthree"))
	long := strings.Repeat("x", MaxLine+10) + "\n"
	out = c.Write(out, []byte("\n"+long))
	out = c.Flush(c.Write(out, []byte("unended")))
	var lines []string
	var joined bytes.Buffer
	for _, rec := range bytes.SplitAfter(out, []byte("\n")) {
		if len(rec) == 0 {
			continue
		}
		e, err := Parse(rec)
		if err != nil || !e.Stderr || !e.Time.Equal(t0) {
			t.Fatalf("record %q: %+v %v", rec, e, err)
		}
		lines = append(lines, string(e.Line))
		joined.Write(e.Line)
	}
	if len(lines) != 6 || lines[0] != "one\n" || lines[1] != "two\n" || lines[2] != "three\n" || len(lines[3]) != MaxLine || lines[4] != "xxxxxxxxxx\n" || lines[5] != "unended" {
		t.Fatalf("cut into %d records: %q", len(lines), lines)
	}
	if joined.String() != "one\ntwo\nthree\n"+long+"unended" {
		t.Fatal("the pieces do not join into the output")
	}
	// A line of exactly MaxLine with its newline is one record.
	out = c.Write(nil, []byte(strings.Repeat("y", MaxLine-1)+"\n"))
	if n := bytes.Count(out, []byte("\n")); n != 1 {
		t.Fatalf("a MaxLine line made %d records", n)
	}
}

func TestDecoder(t *testing.T) {
	var log []byte
	for i, l := range []string{"a\n", "b\n", "c\n", "d\n"} {
		log = Append(log, Entry{Time: t0.Add(time.Duration(i) * time.Second), Stderr: i == 1, Line: []byte(l)})
	}
	// stderr's record reached the file before stdout's older one.
	var skewed []byte
	for _, e := range []Entry{{Time: t0, Line: []byte("a\n")}, {Time: t0.Add(500 * time.Millisecond), Stderr: true, Line: []byte("x\n")}, {Time: t0.Add(300 * time.Millisecond), Line: []byte("b\n")}} {
		skewed = Append(skewed, e)
	}
	for _, tc := range []struct {
		name    string
		records bool
		data    []byte
		filter  Filter
		want    string
		past    bool
	}{
		{"all records", true, log, Filter{}, "a\n!b\nc\nd\n", false},
		{"since the second", true, log, Filter{Since: t0.Add(time.Second)}, "!b\nc\nd\n", false},
		{"until the second, inclusive", true, log, Filter{Until: t0.Add(time.Second)}, "a\n!b\n", true},
		{"until reads on past a record of the other stream stamped a little later", true, skewed, Filter{Until: t0.Add(400 * time.Millisecond)}, "a\nb\n", false},
		{"a plain log passes every filter", false, []byte("x\ny"), Filter{Since: t0.Add(time.Hour)}, "x\ny", false},
		{"a bad record is a plain line", true, []byte("garbage\n"), Filter{}, "garbage\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got strings.Builder
			d := &Decoder{Records: tc.records, Filter: tc.filter, Emit: func(es []Entry) error {
				for _, e := range es {
					if e.Stderr {
						got.WriteByte('!')
					}
					got.Write(e.Line)
				}
				return nil
			}}
			var err error
			// Byte by byte: records cut anywhere by the reads.
			for i := range tc.data {
				if _, err = d.Write(tc.data[i : i+1]); err != nil {
					break
				}
			}
			if err == nil {
				err = d.Flush()
			}
			if (err != nil) != tc.past || (err != nil && !errors.Is(err, ErrPast)) {
				t.Fatalf("err = %v, want past %v", err, tc.past)
			}
			if got.String() != tc.want {
				t.Fatalf("decoded %q, want %q", got.String(), tc.want)
			}
		})
	}
}
