// Package volume is the node's local volume store (docker's "local"
// driver): one directory per volume under the node's data root, made on
// first use and kept until removed, so a task's data outlives its
// container on that node. It keeps each volume's labels and options beside
// its data and mounts a volume whose options name a filesystem (type,
// device, o) on first use. It does not know which containers use a volume:
// callers pass that in, from the runtime.
package volume

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minsw/minsw/internal/errdefs"
)

// Driver is the only driver there is.
const Driver = "local"

// LabelAnonymous marks a volume made for one container's unnamed mount, as
// docker marks them; such a volume goes with its container.
const LabelAnonymous = "com.docker.volume.anonymous"

// nameRE is docker's rule for volume names.
var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// ValidateName checks a volume name as docker does.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return errdefs.InvalidArgument("%q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path", name)
	}
	return nil
}

// Volume describes one volume.
type Volume struct {
	Name       string            `json:"Name"`
	Driver     string            `json:"Driver"`
	Mountpoint string            `json:"Mountpoint"`
	CreatedAt  time.Time         `json:"CreatedAt"`
	Labels     map[string]string `json:"Labels"`
	Options    map[string]string `json:"Options"`
}

// Anonymous says whether v was made for one container's unnamed mount.
func (v Volume) Anonymous() bool {
	_, ok := v.Labels[LabelAnonymous]
	return ok
}

// Store is the volumes of one node.
type Store struct {
	root string
	now  func() time.Time
	mu   sync.Mutex
}

// New opens (making it if needed) the store at root, e.g.
// <data-root>/volumes. now may be nil (time.Now).
func New(root string, now func() time.Time) (*Store, error) {
	if err := os.MkdirAll(root, 0o701); err != nil {
		return nil, fmt.Errorf("volume store: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &Store{root: root, now: now}, nil
}

func (s *Store) dir(name string) string       { return filepath.Join(s.root, name) }
func (s *Store) dataDir(name string) string   { return filepath.Join(s.root, name, "_data") }
func (s *Store) metaFile(name string) string  { return filepath.Join(s.root, name, "opts.json") }
func (s *Store) mountedMark(name string) bool { return isMountpoint(s.dataDir(name)) }

// Create makes a volume, or returns the existing one of that name (as
// docker's create does for the same driver). Options other than type,
// device and o are refused.
func (s *Store) Create(name string, labels, opts map[string]string) (Volume, error) {
	if err := ValidateName(name); err != nil {
		return Volume{}, err
	}
	for k := range opts {
		switch k {
		case "type", "device", "o":
		default:
			return Volume{}, errdefs.InvalidArgument("invalid option for the local volume driver: %q (want type, device or o)", k)
		}
	}
	if (opts["type"] == "") != (opts["device"] == "") {
		return Volume{}, errdefs.InvalidArgument("invalid options for the local volume driver: type and device go together")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, err := s.read(name); err == nil {
		return v, nil
	}
	v := Volume{Name: name, Driver: Driver, Mountpoint: s.dataDir(name), CreatedAt: s.now().UTC().Truncate(time.Second), Labels: labels, Options: opts}
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	if v.Options == nil {
		v.Options = map[string]string{}
	}
	if err := os.MkdirAll(v.Mountpoint, 0o755); err != nil {
		return Volume{}, fmt.Errorf("create volume %s: %w", name, err)
	}
	b, _ := json.Marshal(v)
	if err := os.WriteFile(s.metaFile(name), b, 0o600); err != nil {
		os.RemoveAll(s.dir(name))
		return Volume{}, fmt.Errorf("create volume %s: %w", name, err)
	}
	return v, nil
}

// CreateAnonymous makes a volume with a random 64-hex name, marked
// anonymous.
func (s *Store) CreateAnonymous() (Volume, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return Volume{}, err
	}
	return s.Create(hex.EncodeToString(b), map[string]string{LabelAnonymous: ""}, nil)
}

func (s *Store) read(name string) (Volume, error) {
	b, err := os.ReadFile(s.metaFile(name))
	if errors.Is(err, os.ErrNotExist) {
		return Volume{}, errdefs.NotFound("get %s: no such volume", name)
	}
	if err != nil {
		return Volume{}, err
	}
	var v Volume
	if err := json.Unmarshal(b, &v); err != nil {
		return Volume{}, fmt.Errorf("volume %s: bad metadata: %w", name, err)
	}
	v.Mountpoint = s.dataDir(name)
	return v, nil
}

// Get returns the volume called name.
func (s *Store) Get(name string) (Volume, error) {
	if err := ValidateName(name); err != nil {
		return Volume{}, errdefs.NotFound("get %s: no such volume", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.read(name)
}

// List returns every volume, by name.
func (s *Store) List() ([]Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ents, err := os.ReadDir(s.root)
	if err != nil {
		return nil, err
	}
	var out []Volume
	for _, e := range ents {
		if v, err := s.read(e.Name()); err == nil {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Mount makes the volume ready for a container and returns the host path
// to bind: its data directory, with the filesystem its options name
// mounted there on first use.
func (s *Store) Mount(name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.read(name)
	if err != nil {
		return "", err
	}
	if t := v.Options["type"]; t != "" && !s.mountedMark(name) {
		if err := unix.Mount(v.Options["device"], v.Mountpoint, t, 0, v.Options["o"]); err != nil {
			return "", fmt.Errorf("error while mounting volume '%s': %w", v.Mountpoint, err)
		}
	}
	return v.Mountpoint, nil
}

// Remove deletes a volume and its data. users are the containers using
// it (from the runtime): a volume in use is refused with docker's message,
// unless force.
func (s *Store) Remove(name string, users []string, force bool) error {
	if len(users) > 0 && !force {
		return errdefs.FailedPrecondition("remove %s: volume is in use - %v", name, users)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.read(name); err != nil {
		if errdefs.Is(err, errdefs.KindNotFound) {
			return errdefs.NotFound("get %s: no such volume", name)
		}
		return err
	}
	if s.mountedMark(name) {
		if err := unix.Unmount(s.dataDir(name), unix.MNT_DETACH); err != nil {
			return fmt.Errorf("remove %s: unmount: %w", name, err)
		}
	}
	if err := os.RemoveAll(s.dir(name)); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}

// Prune removes the volumes no container uses: anonymous ones, or all
// with all (docker's prune -a). It returns what it removed and the bytes
// freed.
func (s *Store) Prune(inUse func(name string) bool, all bool) (removed []string, reclaimed uint64, err error) {
	vols, err := s.List()
	if err != nil {
		return nil, 0, err
	}
	for _, v := range vols {
		if inUse(v.Name) || (!all && !v.Anonymous()) {
			continue
		}
		size := dirSize(v.Mountpoint)
		if err := s.Remove(v.Name, nil, false); err != nil {
			return removed, reclaimed, err
		}
		removed = append(removed, v.Name)
		reclaimed += size
	}
	return removed, reclaimed, nil
}

func dirSize(dir string) uint64 {
	var n uint64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += uint64(fi.Size())
		}
		return nil
	})
	return n
}

// isMountpoint says whether p is a mount point (its device differs from
// its parent's).
func isMountpoint(p string) bool {
	var a, b unix.Stat_t
	if unix.Lstat(p, &a) != nil || unix.Lstat(filepath.Dir(p), &b) != nil {
		return false
	}
	return a.Dev != b.Dev
}

// Use makes the named volume ready for a container: created on first use
// (with labels and opts), its filesystem mounted if its options name one.
// It returns the host path to bind.
func (s *Store) Use(name string, labels, opts map[string]string) (string, error) {
	if _, err := s.Create(name, labels, opts); err != nil {
		return "", err
	}
	return s.Mount(name)
}
