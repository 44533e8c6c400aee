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

// Format is a ps layout: its columns, each a field with its title.
type Format struct{ cols []column }

type column struct{ field, title string }

func layout(fieldTitles ...string) Format {
	var f Format
	for _, ft := range fieldTitles {
		field, title, _ := strings.Cut(ft, "=")
		f.cols = append(f.cols, column{field, title})
	}
	return f
}

// The layouts of ps's usual options.
var (
	// Full is ps -f (-ef is docker's default).
	Full = layout("user=UID", "pid=PID", "ppid=PPID", "c=C", "stime=STIME", "tty=TTY", "time=TIME", "cmd=CMD")
	// Plain is ps -e.
	Plain = layout("pid=PID", "tty=TTY", "time=TIME", "comm=CMD")
	// BSDUser is ps aux.
	BSDUser = layout("user=USER", "pid=PID", "pcpu=%CPU", "pmem=%MEM", "vsz=VSZ", "rss=RSS", "tty=TTY", "stat=STAT", "start=START", "bsdtime=TIME", "cmd=COMMAND")
	// BSD is ps ax.
	BSD = layout("pid=PID", "tty=TTY", "stat=STAT", "bsdtime=TIME", "cmd=COMMAND")
)

// outputFields are the fields -o knows: ps's names for them, and the
// field and title each stands for.
var outputFields = map[string]column{
	"pid": {"pid", "PID"}, "ppid": {"ppid", "PPID"}, "pgid": {"pgid", "PGID"}, "pgrp": {"pgid", "PGRP"},
	"sid": {"sid", "SID"}, "sess": {"sid", "SESS"},
	"user": {"user", "USER"}, "euser": {"user", "EUSER"}, "uname": {"user", "USER"},
	"uid": {"uid", "UID"}, "euid": {"uid", "EUID"},
	"comm": {"comm", "COMMAND"}, "ucomm": {"comm", "COMMAND"},
	"args": {"cmd", "COMMAND"}, "command": {"cmd", "COMMAND"}, "cmd": {"cmd", "CMD"},
	"etime": {"etime", "ELAPSED"}, "time": {"time", "TIME"}, "cputime": {"time", "TIME"},
	"stat": {"stat", "STAT"}, "s": {"state", "S"}, "state": {"state", "S"},
	"tty": {"tty", "TT"}, "tt": {"tty", "TT"}, "tname": {"tty", "TTY"},
	"vsz": {"vsz", "VSZ"}, "vsize": {"vsz", "VSZ"}, "rss": {"rss", "RSS"}, "rssize": {"rss", "RSS"},
	"pcpu": {"pcpu", "%CPU"}, "%cpu": {"pcpu", "%CPU"}, "pmem": {"pmem", "%MEM"}, "%mem": {"pmem", "%MEM"},
	"nice": {"nice", "NI"}, "ni": {"nice", "NI"}, "c": {"c", "C"},
	"stime": {"stime", "STIME"}, "start_time": {"stime", "START"}, "start": {"start", "STARTED"},
	"nlwp": {"nlwp", "NLWP"}, "thcount": {"nlwp", "THCNT"},
}

// ParseArgs reads docker top's ps options ("" is docker's default, -ef):
// -e, -A, -f and their combinations; aux, ax; -o/o with a list of fields
// (name or name=TITLE), alone or as -eo (-o decides the columns). Selection options (-e, -A, a, x)
// change nothing: the processes are the container's. Anything else is
// refused in one line.
func ParseArgs(args string) (Format, error) {
	fields := strings.Fields(args)
	if len(fields) == 0 {
		return Full, nil
	}
	unix, bsd := "", ""
	var out []string // -o lists
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		rest, dash := strings.CutPrefix(f, "-")
		flags, list, hasO := strings.Cut(rest, "o")
		switch {
		case hasO && strings.Trim(flags, "eA") == "" && (dash || flags == ""):
			if list == "" {
				if i+1 == len(fields) {
					return Format{}, errdefs.InvalidArgument("ps option -o needs a list of fields (docker top CONTAINER -o pid,comm)")
				}
				i++
				list = fields[i]
			}
			out = append(out, list)
		case dash && rest != "" && strings.Trim(rest, "eAf") == "":
			unix += rest
		case !dash && strings.Trim(f, "aux") == "":
			bsd += f
		default:
			return Format{}, refuse(args)
		}
	}
	switch {
	case len(out) > 0:
		return outputFormat(strings.Join(out, ","))
	case unix != "" && bsd != "":
		return Format{}, refuse(args)
	case bsd != "" && strings.Contains(bsd, "u"):
		return BSDUser, nil
	case bsd != "":
		return BSD, nil
	case strings.Contains(unix, "f"):
		return Full, nil
	}
	return Plain, nil
}

// outputFormat reads -o's list: fields by ps's names, each maybe with its
// own title (pid=NUMBER; unlike ps, a title ends at the next comma).
func outputFormat(list string) (Format, error) {
	var f Format
	for _, item := range strings.Split(list, ",") {
		name, title, custom := strings.Cut(item, "=")
		c, ok := outputFields[strings.ToLower(name)]
		if !ok {
			known := make([]string, 0, len(outputFields))
			for k := range outputFields {
				known = append(known, k)
			}
			slices.Sort(known)
			return Format{}, errdefs.InvalidArgument("docker top on minsw does not know the ps field %q (it knows %s)", name, strings.Join(known, ", "))
		}
		if custom {
			c.title = title
		}
		f.cols = append(f.cols, c)
	}
	return f, nil
}

func refuse(args string) error {
	return errdefs.InvalidArgument("docker top on minsw reads /proc itself and knows the ps options -ef (the default), -e, -f, -A, aux, ax and -o FIELDS; not %q", args)
}

// Titles are the column names of format f.
func Titles(f Format) []string {
	out := make([]string, 0, len(f.cols))
	for _, c := range f.cols {
		out = append(out, c.title)
	}
	return out
}

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
	row := make([]string, 0, len(f.cols))
	for _, c := range f.cols {
		row = append(row, r.value(c.field, p, users, now, start, age, cpu, memTotal))
	}
	return row
}

// value is one field of p, as ps prints it.
func (r Reader) value(field string, p proc, users map[int]string, now, start time.Time, age, cpu time.Duration, memTotal uint64) string {
	switch field {
	case "pid":
		return strconv.Itoa(p.pid)
	case "ppid":
		return strconv.Itoa(p.ppid)
	case "pgid":
		return strconv.Itoa(p.pgrp)
	case "sid":
		return strconv.Itoa(p.session)
	case "user":
		return userName(users, p.uid)
	case "uid":
		return strconv.Itoa(p.uid)
	case "comm":
		return p.comm
	case "cmd":
		return p.command()
	case "etime":
		return elapsed(age)
	case "time":
		return longTime(cpu)
	case "bsdtime":
		return shortTime(cpu)
	case "stat":
		return p.stat()
	case "state":
		return string(p.state)
	case "tty":
		return tty(p.ttyNr)
	case "vsz":
		return strconv.FormatUint(p.vsize/1024, 10)
	case "rss":
		return strconv.FormatUint(p.rssPages*r.PageSize/1024, 10)
	case "pcpu":
		return fmt.Sprintf("%.1f", percent(cpu, age))
	case "pmem":
		if memTotal == 0 {
			return "0.0"
		}
		return fmt.Sprintf("%.1f", float64(p.rssPages*r.PageSize)*100/float64(memTotal))
	case "nice":
		return strconv.FormatInt(p.nice, 10)
	case "c":
		return strconv.Itoa(int(percent(cpu, age)))
	case "stime", "start":
		return stime(now, start)
	case "nlwp":
		return strconv.FormatInt(p.threads, 10)
	}
	return "-"
}

// elapsed is ps's ETIME: [[DD-]hh:]mm:ss.
func elapsed(d time.Duration) string {
	s := int64(d / time.Second)
	days, h, m := s/86400, s/3600%24, s/60%60
	switch {
	case days > 0:
		return fmt.Sprintf("%d-%02d:%02d:%02d", days, h, m, s%60)
	case h > 0:
		return fmt.Sprintf("%02d:%02d:%02d", h, m, s%60)
	}
	return fmt.Sprintf("%02d:%02d", m, s%60)
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
