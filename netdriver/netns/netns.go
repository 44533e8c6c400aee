// Package netns owns named network namespaces as files under a directory
// (the node's <exec-root>/netns), made the way `ip netns add` makes them: a
// bind mount of a fresh namespace on an empty file, inside a directory that is
// a shared mount point so that other mount namespaces see the unmount too.
// It also runs functions inside a namespace on a locked OS thread. It must
// not create links or addresses; the overlay package does that.
package netns

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// SandboxName is the namespace holding a network's bridge and vxlan, as
// Docker names it: "1-" and the first 10 characters of the network id.
func SandboxName(netID string) string { return "1-" + prefix(netID, 10) }

// LBName is the namespace holding a network's VIPs and load balancer:
// "lb_" and the first 9 characters of the network id.
func LBName(netID string) string { return "lb_" + prefix(netID, 9) }

// ContainerName is a container's namespace file name: its id cut to 12.
func ContainerName(containerID string) string { return prefix(containerID, 12) }

func prefix(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Prepare makes dir exist and be a shared mount point, as iproute2 does for
// /var/run/netns: namespaces bind-mounted below it are then unmounted in
// every mount namespace that copied it (a container shim's, say), instead
// of being pinned there forever.
func Prepare(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("netns: %w", err)
	}
	err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("netns: make %s shared: %w", dir, err)
	}
	// Not a mount point yet: bind it on itself, then share it.
	if err := unix.Mount(dir, dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("netns: bind %s on itself: %w", dir, err)
	}
	if err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("netns: make %s shared: %w", dir, err)
	}
	return nil
}

// Release undoes Prepare when dir holds no namespace any more: it unmounts
// the self bind and removes the directory. A dir still in use is left alone.
func Release(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("netns: %w", err)
	}
	if len(ents) > 0 {
		return nil
	}
	if mounted, _ := IsMountPoint(dir); mounted {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("netns: unmount %s: %w", dir, err)
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("netns: %w", err)
	}
	return nil
}

// Create makes a new network namespace and pins it at dir/name. It fails
// with os.ErrExist when the file is already a namespace; a stale plain file
// (left by a crash between create and mount) is reused.
func Create(dir, name string) (string, error) {
	if name == "" || strings.ContainsRune(name, '/') {
		return "", fmt.Errorf("netns: bad namespace name %q", name)
	}
	if err := Prepare(dir); err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	if IsNetns(path) {
		return path, fmt.Errorf("netns: %s: %w", path, os.ErrExist)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o444)
	if err != nil {
		return "", fmt.Errorf("netns: %w", err)
	}
	f.Close()

	// unshare moves the calling thread; do it on a thread of its own that
	// is thrown away if it cannot be put back.
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := vnetns.Get()
		if err != nil {
			errc <- fmt.Errorf("netns: current namespace: %w", err)
			runtime.UnlockOSThread()
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("netns: unshare (kernel without CONFIG_NET_NS?): %w", err)
			runtime.UnlockOSThread()
			return
		}
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		merr := unix.Mount(self, path, "none", unix.MS_BIND, "")
		if err := vnetns.Set(orig); err != nil {
			// The thread stays locked and dies with this goroutine.
			errc <- errors.Join(merr, fmt.Errorf("netns: restore thread namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		if merr != nil {
			merr = fmt.Errorf("netns: bind %s: %w", path, merr)
		}
		errc <- merr
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return "", err
	}
	return path, nil
}

// Delete unmounts and removes a namespace file. A missing file is no error.
func Delete(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil &&
		!errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("netns: unmount %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("netns: %w", err)
	}
	return nil
}

// List names the entries of dir (namespaces or stale files), sorted.
func List(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("netns: %w", err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, nil
}

// IsNetns reports whether path is a pinned network namespace.
func IsNetns(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

// IsMountPoint reports whether path is the mount point of some mount of this
// process's mount namespace.
func IsMountPoint(path string) (bool, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return false, err
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescapeMount(fields[4]) == abs {
			return true, nil
		}
	}
	return false, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range s[i+1 : i+4] {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + byte(c-'0')
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Open returns a handle on the namespace at path; the caller closes it.
func Open(path string) (vnetns.NsHandle, error) {
	h, err := vnetns.GetFromPath(path)
	if err != nil {
		return vnetns.None(), fmt.Errorf("netns: open %s: %w", path, err)
	}
	return h, nil
}

// Current returns a handle on the calling thread's namespace.
func Current() (vnetns.NsHandle, error) {
	h, err := vnetns.Get()
	if err != nil {
		return vnetns.None(), fmt.Errorf("netns: current namespace: %w", err)
	}
	return h, nil
}

// Do runs fn on a thread inside the namespace at path and waits for it.
// fn runs on a goroutine of its own, locked to its thread, so a thread that
// cannot be put back is thrown away instead of leaking into the caller.
// Goroutines that fn starts do not inherit the namespace; sockets fn opens
// stay in it.
func Do(path string, fn func() error) error {
	h, err := Open(path)
	if err != nil {
		return err
	}
	defer h.Close()
	return DoHandle(h, fn)
}

// DoHandle is Do for a namespace already open.
func DoHandle(h vnetns.NsHandle, fn func() error) error {
	type result struct {
		err   error
		panic any
	}
	done := make(chan result, 1)
	go func() {
		// fn may end its goroutine (t.Fatal does): the caller still hears.
		r := result{err: errors.New("netns: function exited its goroutine")}
		defer func() { done <- r }()
		runtime.LockOSThread()
		orig, err := vnetns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			r.err = fmt.Errorf("netns: current namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := vnetns.Set(h); err != nil {
			runtime.UnlockOSThread()
			r.err = fmt.Errorf("netns: enter namespace: %w", err)
			return
		}
		// If fn ends the goroutine, the thread stays locked and dies with it.
		func() {
			defer func() { r.panic = recover() }()
			r.err = fn()
		}()
		if err := vnetns.Set(orig); err != nil {
			// The thread stays locked and ends with this goroutine.
			r.err = errors.Join(r.err, fmt.Errorf("netns: restore thread namespace: %w", err))
		} else {
			runtime.UnlockOSThread()
		}
	}()
	r := <-done
	if r.panic != nil {
		panic(r.panic)
	}
	return r.err
}
