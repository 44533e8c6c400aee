// Package containeropts reads and checks docker's container options
// (capabilities, sysctls, ulimits, signals, byte and CPU amounts, Go
// templates) the same way for the CLI that parses them, the control API that
// refuses bad ones and the executor that applies them. It is pure: no I/O.
package containeropts

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// capabilities are the Linux capabilities a container may be given, by
// their CAP_ names (capabilities(7)).
var capabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
	"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
	"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// AllCapabilities lists every capability Capability accepts but ALL.
func AllCapabilities() []string { return slices.Clone(capabilities) }

// Capability normalises a --cap-add/--cap-drop value as docker does
// (net_admin, NET_ADMIN and CAP_NET_ADMIN are one), keeping ALL as ALL.
func Capability(s string) (string, error) {
	c := strings.ToUpper(strings.TrimSpace(s))
	if c == "ALL" {
		return c, nil
	}
	if !strings.HasPrefix(c, "CAP_") {
		c = "CAP_" + c
	}
	if !slices.Contains(capabilities, c) {
		return "", fmt.Errorf("unknown capability %q", s)
	}
	return c, nil
}

// sysctlPrefixes are the namespaced sysctls a container may set, as docker
// allows them: IPC ones and, since a task has its own network namespace,
// net.*. Others would change the host.
var (
	ipcSysctls      = []string{"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}
	sysctlPrefixes  = []string{"fs.mqueue.", "net."}
	sysctlKeyRE     = regexp.MustCompile(`^[a-z0-9_]+(\.[a-zA-Z0-9_\-]+)+$`)
	errSysctlPolicy = errors.New("not namespaced: it would change the host (allowed: kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.*)")
)

// Sysctl checks one --sysctl KEY=VALUE.
func Sysctl(key, value string) error {
	if !sysctlKeyRE.MatchString(key) {
		return fmt.Errorf("invalid sysctl %q: not a sysctl name", key)
	}
	if value == "" {
		return fmt.Errorf("invalid sysctl %q: no value", key)
	}
	if slices.Contains(ipcSysctls, key) {
		return nil
	}
	for _, p := range sysctlPrefixes {
		if strings.HasPrefix(key, p) {
			return nil
		}
	}
	return fmt.Errorf("invalid sysctl %q: %w", key, errSysctlPolicy)
}

// ulimitNames are the resources --ulimit takes, as docker names them.
var ulimitNames = map[string]bool{
	"core": true, "cpu": true, "data": true, "fsize": true, "locks": true, "memlock": true,
	"msgqueue": true, "nice": true, "nofile": true, "nproc": true, "rss": true, "rtprio": true,
	"rttime": true, "sigpending": true, "stack": true, "as": true,
}

// Ulimit reads --ulimit NAME=SOFT[:HARD] (-1 is unlimited).
func Ulimit(s string) (name string, soft, hard int64, err error) {
	bad := func(why string) error { return fmt.Errorf("invalid ulimit %q: %s", s, why) }
	name, limits, ok := strings.Cut(s, "=")
	if !ok {
		return "", 0, 0, bad("want NAME=SOFT[:HARD]")
	}
	if !ulimitNames[name] {
		return "", 0, 0, bad("unknown resource " + strconv.Quote(name))
	}
	softS, hardS, two := strings.Cut(limits, ":")
	if soft, err = strconv.ParseInt(softS, 10, 64); err != nil || soft < -1 {
		return "", 0, 0, bad("soft limit is not a number")
	}
	hard = soft
	if two {
		if hard, err = strconv.ParseInt(hardS, 10, 64); err != nil || hard < -1 {
			return "", 0, 0, bad("hard limit is not a number")
		}
	}
	if soft > hard && hard != -1 || soft == -1 && hard != -1 {
		return "", 0, 0, bad("soft limit is larger than the hard limit")
	}
	return name, soft, hard, nil
}

// Signal reads a signal as docker's --stop-signal: SIGUSR1, USR1 or 10.
func Signal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal %q", s)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("invalid signal %q", s)
}

var bytesRE = regexp.MustCompile(`^(\d+(?:\.\d+)?) ?([kKmMgGtTpP]?)[iI]?[bB]?$`)

// Bytes reads an amount of memory as docker's --limit-memory: 512, 64k,
// 100m, 1.5g (binary units, an optional trailing b).
func Bytes(s string) (int64, error) {
	m := bytesRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("invalid size %q: want a number with an optional unit b, k, m, g, t (e.g. 512m)", s)
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	mult := map[string]float64{"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}[strings.ToLower(m[2])]
	v := f * mult
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return int64(v), nil
}

// NanoCPUs reads a CPU amount as docker's --limit-cpu: 0.5, 2, 1.25.
func NanoCPUs(s string) (int64, error) {
	r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
	if !ok || strings.ContainsAny(s, "/eE") {
		return 0, fmt.Errorf("invalid CPU amount %q: want a decimal number of CPUs (e.g. 0.5)", s)
	}
	if r.Sign() < 0 {
		return 0, fmt.Errorf("invalid CPU amount %q: must not be negative", s)
	}
	nano := new(big.Rat).Mul(r, big.NewRat(1e9, 1))
	if !nano.IsInt() {
		return 0, fmt.Errorf("invalid CPU amount %q: more than 9 decimal places", s)
	}
	if !nano.Num().IsInt64() {
		return 0, fmt.Errorf("invalid CPU amount %q: too large", s)
	}
	return nano.Num().Int64(), nil
}

// FormatNanoCPUs shows nano CPUs as a decimal (1.5).
func FormatNanoCPUs(n int64) string {
	return strconv.FormatFloat(float64(n)/1e9, 'f', -1, 64)
}

// FormatBytes shows a memory amount in docker's binary units (512MiB).
func FormatBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return strconv.FormatFloat(math.Round(f*1000)/1000, 'f', -1, 64) + units[i]
}
