// Package procstat reads a process's figures from /proc, for benchmarks
// that report a daemon's or their own memory.
package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// RSSKiB is the resident set (VmRSS) of process pid in KiB, 0 for the
// calling process; ok is false when the process or the line is gone.
func RSSKiB(pid int) (kib int64, ok bool) {
	path := "/proc/self/status"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			v, err := strconv.ParseInt(f[1], 10, 64)
			return v, err == nil
		}
	}
	return 0, false
}
