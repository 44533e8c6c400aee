package pstable

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minsw/minsw/internal/errdefs"
)

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args string
		want Format
		bad  bool
	}{
		{"", Full, false},
		{"-ef", Full, false},
		{"-fe", Full, false},
		{"-e -f", Full, false},
		{"-f", Full, false},
		{"-A", Plain, false},
		{"-e", Plain, false},
		{"aux", BSDUser, false},
		{"ux", BSDUser, false},
		{"ax", BSD, false},
		{"-o pid,comm", layout("pid=PID", "comm=COMMAND"), false},
		{"-eo pid,user,args", layout("pid=PID", "user=USER", "cmd=COMMAND"), false},
		{"-opid=N,etime", layout("pid=N", "etime=ELAPSED"), false},
		{"o pid -o rss", layout("pid=PID", "rss=RSS"), false},
		{"-o", Format{}, true},
		{"-o pid,wchan", Format{}, true}, // a field minsw does not read
		{"aux -f", Format{}, true},
		{"-", Format{}, true},
		{"--forest", Format{}, true},
	} {
		got, err := ParseArgs(tc.args)
		if tc.bad {
			if !errdefs.Is(err, errdefs.KindInvalidArgument) || !strings.HasPrefix(err.Error(), "docker top on minsw") && !strings.HasPrefix(err.Error(), "ps option -o") {
				t.Errorf("%q: %v, want a refusal naming it", tc.args, err)
			}
			continue
		}
		if err != nil || !slices.Equal(Titles(got), Titles(tc.want)) || !slices.Equal(got.cols, tc.want.cols) {
			t.Errorf("%q: %v %v, want %v", tc.args, got, err, tc.want)
		}
	}
}

// fakeProc writes a /proc with two processes: a shell on pts/0 started an
// hour before now with 90 s of CPU, and a zombie whose name holds ") (".
func fakeProc(t *testing.T) (Reader, time.Time) {
	root := t.TempDir()
	now := time.Date(2026, 12, 3, 18, 0, 0, 0, time.UTC)
	boot := now.Add(-48 * time.Hour)
	write := func(name, s string) {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("stat", "cpu  1 2 3 4\nbtime "+strconv.FormatInt(boot.Unix(), 10)+"\n")
	write("meminfo", "MemTotal:        1000000 kB\n")
	start := uint64(47*3600) * 100 // ticks after boot: 47 h, an hour ago
	// pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime priority nice threads itrealvalue starttime vsize rss
	write("4242/stat", "4242 (sh) S 4200 4242 4242 34816 4242 0 0 0 0 0 6000 3000 0 0 20 0 1 0 "+strconv.FormatUint(start, 10)+" 4300800 250 0")
	write("4242/status", "Name:\tsh\nUid:\t1000\t1000\t1000\t1000\n")
	write("4242/cmdline", "/bin/sh\x00-c\x00sleep 1000\x00")
	write("4250/stat", "4250 (a) (b) Z 4242 4242 4242 0 -1 0 0 0 0 0 0 0 0 0 20 5 1 0 "+strconv.FormatUint(start, 10)+" 0 0 0")
	write("4250/status", "Name:\ta) (b\nUid:\t0\t0\t0\t0\n")
	write("4250/cmdline", "")
	write("passwd", "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n")
	return Reader{Proc: root, Passwd: filepath.Join(root, "passwd"), Now: func() time.Time { return now }, HZ: 100, PageSize: 4096}, now
}

func TestTable(t *testing.T) {
	r, _ := fakeProc(t)
	for _, tc := range []struct {
		f    Format
		want [][]string
	}{
		{Full, [][]string{
			{"alice", "4242", "4200", "2", "17:00", "pts/0", "00:01:30", "/bin/sh -c sleep 1000"},
			{"root", "4250", "4242", "0", "17:00", "?", "00:00:00", "[a) (b]"},
		}},
		{Plain, [][]string{
			{"4242", "pts/0", "00:01:30", "sh"},
			{"4250", "?", "00:00:00", "a) (b"},
		}},
		{BSDUser, [][]string{
			{"alice", "4242", "2.5", "0.1", "4200", "1000", "pts/0", "Ss+", "17:00", "1:30", "/bin/sh -c sleep 1000"},
			{"root", "4250", "0.0", "0.0", "0", "0", "?", "ZN", "17:00", "0:00", "[a) (b]"},
		}},
		{layout("pid=PID", "uid=UID", "state=S", "etime=ELAPSED", "nice=NI", "comm=COMMAND"), [][]string{
			{"4242", "1000", "S", "01:00:00", "0", "sh"},
			{"4250", "0", "Z", "01:00:00", "5", "a) (b"},
		}},
		{BSD, [][]string{
			{"4242", "pts/0", "Ss+", "1:30", "/bin/sh -c sleep 1000"},
			{"4250", "?", "ZN", "0:00", "[a) (b]"},
		}},
	} {
		// 4299 is listed but gone; 4250 is listed twice.
		rows, err := r.Table([]int{4250, 4299, 4242, 4250}, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(tc.want) {
			t.Fatalf("format %v: %q", Titles(tc.f), rows)
		}
		for i := range rows {
			if len(rows[i]) != len(Titles(tc.f)) || !slices.Equal(rows[i], tc.want[i]) {
				t.Errorf("format %v row %d:\n got %q\nwant %q", Titles(tc.f), i, rows[i], tc.want[i])
			}
		}
	}
}

func TestTimesAndTerminals(t *testing.T) {
	now := time.Date(2026, 12, 3, 18, 0, 0, 0, time.UTC)
	for start, want := range map[time.Time]string{
		now.Add(-time.Minute):          "17:59",
		now.Add(-30 * time.Hour):       "Dec02",
		now.Add(-400 * 24 * time.Hour): "2025",
	} {
		if got := stime(now, start); got != want {
			t.Errorf("stime %v: %s, want %s", start, got, want)
		}
	}
	if got := longTime(26*time.Hour + 61*time.Second); got != "1-02:01:01" {
		t.Errorf("longTime: %s", got)
	}
	for nr, want := range map[uint64]string{0: "?", 136<<8 | 3: "pts/3", 137<<8 | 1: "pts/257", 4<<8 | 1: "tty1", 4<<8 | 65: "ttyS1"} {
		if got := tty(nr); got != want {
			t.Errorf("tty %d: %s, want %s", nr, got, want)
		}
	}
}

// The host's /proc: this test process is listed with its PID and command.
func TestHostTableListsThisProcess(t *testing.T) {
	rows, err := Host().Table([]int{os.Getpid()}, Full)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0][1] != strconv.Itoa(os.Getpid()) || !strings.Contains(rows[0][7], filepath.Base(os.Args[0])) {
		t.Fatalf("rows %q", rows)
	}
}
