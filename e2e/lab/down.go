package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minsw/minsw/internal/testenv"
)

// Down stops everything the lab in dir started, by PID, and removes what it
// made: containers and snapshots (every containerd namespace of the lab's
// containerd), shims, daemons, registry, containerd, mounts under dir,
// namespaces, links, and dir itself. Without a lab.json it still removes the
// default lab's namespaces and bridge (for another directory it only
// removes the directory). It keeps going past errors and
// returns them all.
func Down(ctx context.Context, dir string, log io.Writer) error {
	s, err := LoadState(dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if filepath.Clean(dir) != DefaultDir {
			// Not the default lab and no record of what it made: only the
			// directory is known to be the lab's.
			err := errors.Join(unmountUnder(dir), os.RemoveAll(dir))
			if left := mountsUnder(dir); len(left) > 0 {
				err = errors.Join(err, fmt.Errorf("mounts left under %s: %v", dir, left))
			}
			return err
		}
		s.Config = Default("")
		s.Config.Dir = dir
	}
	c := s.Config
	var errs []error
	note := func(what string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
	}
	// Daemons first, so none restarts a container being swept.
	for _, n := range c.Nodes {
		pid, err := readPid(c.DaemonPidfile(n))
		if err != nil {
			continue
		}
		note("daemon "+n.Name, stopPid(pid, "minsw", false, 10*time.Second))
	}
	if alive(s.ContainerdPid, "containerd") {
		sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		note("sweep containerd", (&testenv.Containerd{Address: c.ContainerdSock(), Dir: c.containerdDir()}).Sweep(sctx))
		cancel()
	}
	for _, pid := range testenv.ShimPids(c.ContainerdSock()) {
		note("shim", stopPid(pid, "containerd-shim", true, 5*time.Second))
	}
	note("registry", stopPid(s.RegistryPid, "labctl", false, 5*time.Second))
	note("containerd", stopPid(s.ContainerdPid, "containerd", false, 10*time.Second))
	note("unmount", unmountUnder(dir))
	note("topology", removeTopology(ctx, c))
	if _, err := os.Stat(dir); err == nil {
		note("remove "+dir, os.RemoveAll(dir))
	}
	if left := mountsUnder(dir); len(left) > 0 {
		errs = append(errs, fmt.Errorf("mounts left under %s: %v", dir, left))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintf(log, "lab: down: stopped daemons, registry, containerd; removed namespaces, bridge %s, %s\n", c.Bridge, dir)
	return nil
}

// mountsUnder lists the mount points at or below dir, from this process's
// mount table (the lab's daemons share the root mount namespace).
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			out = append(out, fields[4])
		}
	}
	return out
}

// unmountUnder detaches every mount below dir, deepest first, a few rounds
// (a bind mount may be stacked on another).
func unmountUnder(dir string) error {
	var errs []error
	for round := 0; round < 5; round++ {
		ms := mountsUnder(dir)
		if len(ms) == 0 {
			return nil
		}
		sort.Sort(sort.Reverse(sort.StringSlice(ms)))
		errs = errs[:0]
		for _, m := range ms {
			if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
			}
		}
	}
	return errors.Join(errs...)
}
