// Package pstable answers docker top: it lists processes by PID as ps
// does (the columns of ps -ef, ps -e, ps aux or ps ax), read from /proc,
// so a node needs no procps and no ps process per request.
package pstable

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/minsw/minsw/internal/errdefs"
)

// Format is one of the ps layouts served.
type Format int

const (
	// Full is ps -f (-ef is docker's default): UID PID PPID C STIME TTY TIME CMD.
	Full Format = iota
	// Plain is ps -e: PID TTY TIME CMD.
	Plain
	// BSDUser is ps aux: USER PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND.
	BSDUser
	// BSD is ps ax: PID TTY STAT TIME COMMAND.
	BSD
)

// Titles are each format's column names, as ps prints them.
var titles = map[Format][]string{
	Full:    {"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"},
	Plain:   {"PID", "TTY", "TIME", "CMD"},
	BSDUser: {"USER", "PID", "%CPU", "%MEM", "VSZ", "RSS", "TTY", "STAT", "START", "TIME", "COMMAND"},
	BSD:     {"PID", "TTY", "STAT", "TIME", "COMMAND"},
}

// ParseArgs reads docker top's ps options ("" is docker's default, -ef).
// Selection options (-e, -A, a, x) change nothing: the processes are the
// container's. Anything else is refused in one line.
func ParseArgs(args string) (Format, error) {
	fields := strings.Fields(args)
	if len(fields) == 0 {
		return Full, nil
	}
	unix, bsd := "", ""
	for _, f := range fields {
		if rest, ok := strings.CutPrefix(f, "-"); ok && rest != "" && strings.Trim(rest, "eAf") == "" {
			unix += rest
		} else if strings.Trim(f, "aux") == "" {
			bsd += f
		} else {
			return 0, refuse(args)
		}
	}
	switch {
	case unix != "" && bsd != "":
		return 0, refuse(args)
	case bsd != "" && strings.Contains(bsd, "u"):
		return BSDUser, nil
	case bsd != "":
		return BSD, nil
	case strings.Contains(unix, "f"):
		return Full, nil
	}
	return Plain, nil
}

func refuse(args string) error {
	return errdefs.InvalidArgument("docker top on minsw reads /proc itself and knows the ps options -ef (the default), -e, -f, -A, aux and ax; not %q", args)
}

// Titles are the column names of format f.
func Titles(f Format) []string { return slices.Clone(titles[f]) }

// Reader reads processes under a /proc.
type Reader struct {
	// Proc is the procfs root ("/proc").
	Proc string
	// Passwd names users ("/etc/passwd"); a uid it lacks shows as a number.
	Passwd string
	// Now is the time ages are measured to.
	Now func() time.Time
	// HZ is the kernel's clock ticks per second (USER_HZ, 100 on Linux).
	HZ uint64
	// PageSize is the size of a page in bytes.
	PageSize uint64
}

// Host reads this machine's /proc.
func Host() Reader {
	return Reader{Proc: "/proc", Passwd: "/etc/passwd", Now: time.Now, HZ: 100, PageSize: uint64(os.Getpagesize())}
}

// proc is what ps shows of one process.
type proc struct {
	pid, ppid, pgrp, session, tpgid int
	state                           byte
	ttyNr                           uint64
	ticks                           uint64 // utime + stime
	nice, threads                   int64
	startTicks                      uint64
	vsize, rssPages                 uint64
	uid                             int
	comm, cmdline                   string
}

// Table lists pids (those still there), sorted by PID, in format f.
func (r Reader) Table(pids []int, f Format) (rows [][]string, err error) {
	boot, memTotal, err := r.host()
	if err != nil {
		return nil, err
	}
	users := r.users()
	now := r.Now()
	pids = slices.Clone(pids)
	slices.Sort(pids)
	for _, pid := range slices.Compact(pids) {
		p, err := r.read(pid)
		if err != nil {
			continue // gone since it was listed
		}
		start := boot.Add(time.Duration(p.startTicks * uint64(time.Second) / r.HZ))
		age := now.Sub(start)
		cpu := time.Duration(p.ticks * uint64(time.Second) / r.HZ)
		rows = append(rows, r.row(f, p, users, now, start, age, cpu, memTotal))
	}
	return rows, nil
}

func (r Reader) row(f Format, p proc, users map[int]string, now, start time.Time, age, cpu time.Duration, memTotal uint64) []string {
	pid := strconv.Itoa(p.pid)
	switch f {
	case Full:
		return []string{userName(users, p.uid), pid, strconv.Itoa(p.ppid), strconv.Itoa(int(percent(cpu, age)) /* C */),
			stime(now, start), tty(p.ttyNr), longTime(cpu), p.command()}
	case Plain:
		return []string{pid, tty(p.ttyNr), longTime(cpu), p.comm}
	case BSDUser:
		rss := p.rssPages * r.PageSize
		mem := 0.0
		if memTotal > 0 {
			mem = float64(rss) * 100 / float64(memTotal)
		}
		return []string{userName(users, p.uid), pid, fmt.Sprintf("%.1f", percent(cpu, age)), fmt.Sprintf("%.1f", mem),
			strconv.FormatUint(p.vsize/1024, 10), strconv.FormatUint(rss/1024, 10), tty(p.ttyNr), p.stat(), stime(now, start), shortTime(cpu), p.command()}
	}
	return []string{pid, tty(p.ttyNr), p.stat(), shortTime(cpu), p.command()}
}

// percent is CPU time over the process's life, in percent.
func percent(cpu, age time.Duration) float64 {
	if age <= 0 {
		return 0
	}
	return float64(cpu) * 100 / float64(age)
}

// host reads the boot time (/proc/stat btime) and the memory (MemTotal).
func (r Reader) host() (boot time.Time, memTotal uint64, err error) {
	b, err := os.ReadFile(filepath.Join(r.Proc, "stat"))
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("reading the boot time: %w", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "btime "); ok {
			s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, 0, fmt.Errorf("reading the boot time: %q", l)
			}
			boot = time.Unix(s, 0)
		}
	}
	if boot.IsZero() {
		return time.Time{}, 0, fmt.Errorf("reading the boot time: no btime in %s", filepath.Join(r.Proc, "stat"))
	}
	if b, err := os.ReadFile(filepath.Join(r.Proc, "meminfo")); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				kib, _ := strconv.ParseUint(f[1], 10, 64)
				memTotal = kib * 1024
			}
		}
	}
	return boot, memTotal, nil
}

// read reads /proc/PID/{stat,status,cmdline}.
func (r Reader) read(pid int) (proc, error) {
	dir := filepath.Join(r.Proc, strconv.Itoa(pid))
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return proc{}, err
	}
	p, err := parseStat(string(b))
	if err != nil {
		return proc{}, err
	}
	p.uid = -1
	if b, err := os.ReadFile(filepath.Join(dir, "status")); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			// Uid: real effective saved fs; ps shows the effective one.
			if f := strings.Fields(l); len(f) >= 3 && f[0] == "Uid:" {
				p.uid, _ = strconv.Atoi(f[2])
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
		p.cmdline = strings.TrimSpace(strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " "))
	}
	return p, nil
}

// parseStat reads /proc/PID/stat: the command is between the first '('
// and the last ')' (it may hold both).
func parseStat(s string) (proc, error) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return proc{}, fmt.Errorf("malformed stat %.40q", s)
	}
	var p proc
	var err error
	if p.pid, err = strconv.Atoi(strings.TrimSpace(s[:open])); err != nil {
		return proc{}, fmt.Errorf("malformed stat %.40q", s)
	}
	p.comm = s[open+1 : end]
	f := strings.Fields(s[end+1:])
	// f[0] is field 3 (state) of proc(5).
	if len(f) < 22 {
		return proc{}, fmt.Errorf("malformed stat %.40q", s)
	}
	n := func(i int) uint64 { v, _ := strconv.ParseUint(f[i-3], 10, 64); return v }
	i := func(i int) int64 { v, _ := strconv.ParseInt(f[i-3], 10, 64); return v }
	p.state = f[0][0]
	p.ppid, p.pgrp, p.session = int(i(4)), int(i(5)), int(i(6))
	p.ttyNr, p.tpgid = n(7), int(i(8))
	p.ticks = n(14) + n(15)
	p.nice, p.threads = i(19), i(20)
	p.startTicks, p.vsize, p.rssPages = n(22), n(23), n(24)
	return p, nil
}

// command is the full command line, or [comm] for a process without one
// (a kernel thread, a zombie).
func (p proc) command() string {
	if p.cmdline != "" {
		return p.cmdline
	}
	return "[" + p.comm + "]"
}

// stat is BSD's STAT: the state and its modifiers.
func (p proc) stat() string {
	s := string(p.state)
	switch {
	case p.nice < 0:
		s += "<"
	case p.nice > 0:
		s += "N"
	}
	if p.session == p.pid {
		s += "s"
	}
	if p.threads > 1 {
		s += "l"
	}
	if p.tpgid >= 0 && p.tpgid == p.pgrp {
		s += "+"
	}
	return s
}

// tty names a controlling terminal from its device number as ps does.
func tty(nr uint64) string {
	major, minor := (nr>>8)&0xfff, (nr&0xff)|((nr>>12)&0xfff00)
	switch {
	case nr == 0:
		return "?"
	case major >= 136 && major <= 143:
		return fmt.Sprintf("pts/%d", minor+(major-136)*256)
	case major == 4 && minor < 64:
		return fmt.Sprintf("tty%d", minor)
	case major == 4:
		return fmt.Sprintf("ttyS%d", minor-64)
	case major == 5 && minor == 1:
		return "console"
	}
	return "?"
}

// stime is when a process started: the time of day within a day, the
// date within a year, else the year.
func stime(now, start time.Time) string {
	start = start.In(now.Location())
	switch age := now.Sub(start); {
	case age < 24*time.Hour:
		return start.Format("15:04")
	case age < 365*24*time.Hour:
		return start.Format("Jan02")
	}
	return start.Format("2006")
}

// longTime is ps -f's TIME: [DD-]HH:MM:SS.
func longTime(d time.Duration) string {
	s := int64(d / time.Second)
	days, h, m := s/86400, s/3600%24, s/60%60
	if days > 0 {
		return fmt.Sprintf("%d-%02d:%02d:%02d", days, h, m, s%60)
	}
	return fmt.Sprintf("%02d:%02d:%02d", h, m, s%60)
}

// shortTime is BSD's TIME: M:SS.
func shortTime(d time.Duration) string {
	s := int64(d / time.Second)
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// users reads uid → name from the passwd file.
func (r Reader) users() map[int]string {
	out := map[int]string{}
	f, err := os.Open(r.Passwd)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(sc.Text(), ":")
		if len(parts) < 3 {
			continue
		}
		if uid, err := strconv.Atoi(parts[2]); err == nil {
			if _, ok := out[uid]; !ok {
				out[uid] = parts[0]
			}
		}
	}
	return out
}

func userName(users map[int]string, uid int) string {
	if uid < 0 {
		return "?"
	}
	if n, ok := users[uid]; ok {
		return n
	}
	return strconv.Itoa(uid)
}
