package ipvs

import (
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/vishvananda/netns"
)

// sysctl is one /proc/sys setting, named with dots as sysctl(8) does.
type sysctl struct{ Key, Value string }

// lbSysctls are the settings the lb namespace needs, as libnetwork sets
// them: forwarding (the namespace forwards what IPVS rewrote), conntrack
// for IPVS connections (without it the SNAT rule never sees them), no reuse
// of a connection slot to a removed backend, and expiry of the connections
// and persistence templates of a backend that is gone or has weight 0.
var lbSysctls = []sysctl{
	{"net.ipv4.ip_forward", "1"},
	{"net.ipv4.vs.conntrack", "1"},
	{"net.ipv4.vs.conn_reuse_mode", "0"},
	{"net.ipv4.vs.expire_nodest_conn", "1"},
	{"net.ipv4.vs.expire_quiescent_template", "1"},
}

// writeSysctls writes settings inside the namespace ns (the caller's when
// ns is not open). /proc/sys/net shows the namespace of the thread that
// opens it, so the writes run on a thread of their own that enters ns and
// is never returned to the Go scheduler: the thread ends with its goroutine
// and no other goroutine can run in the wrong namespace.
func writeSysctls(ns netns.NsHandle, settings []sysctl) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // deliberately never unlocked, see above
		if ns.IsOpen() {
			if err := netns.Set(ns); err != nil {
				errc <- fmt.Errorf("lb/ipvs: enter namespace for sysctls: %w", err)
				return
			}
		}
		for _, s := range settings {
			path := "/proc/sys/" + strings.ReplaceAll(s.Key, ".", "/")
			if err := os.WriteFile(path, []byte(s.Value+"\n"), 0o644); err != nil {
				errc <- fmt.Errorf("lb/ipvs: sysctl %s=%s: %w", s.Key, s.Value, err)
				return
			}
		}
		errc <- nil
	}()
	return <-errc
}
