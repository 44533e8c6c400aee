package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
)

// A seed is a whole cluster's data dirs (managers and workers, stopped
// cleanly; the workers keep their fake executor's containers there,
// KeepFakeTasks) saved with what starting it again needs: each member's name and
// port, since the raft configuration, the workers' manager lists and the
// certificates name them. Filling a cluster with 100,000 tasks through the
// API takes a long while; a seed made once by that same fill starts again
// in a minute or two, as real daemons on their own real data.
type seed struct {
	Services int          `json:"services"`
	Replicas int          `json:"replicas"`
	Managers []seedMember `json:"managers"`
	Workers  []seedMember `json:"workers"`
}

type seedMember struct {
	Name string `json:"name"`
	Port int    `json:"port"`
}

const seedFile = "seed.json"

// SaveSeed copies the stopped members' data dirs to dir, with seed.json
// written last: a save cut short is no seed.
func SaveSeed(dir string, services, replicas int, managers, workers []*Manager) error {
	for _, m := range append(append([]*Manager{}, managers...), workers...) {
		if m.Running() {
			return fmt.Errorf("%s is running: a seed is saved from stopped daemons", m.Name)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	s := seed{Services: services, Replicas: replicas}
	for _, m := range managers {
		s.Managers = append(s.Managers, seedMember{Name: m.Name, Port: m.Port})
	}
	for _, w := range workers {
		s.Workers = append(s.Workers, seedMember{Name: w.Name, Port: w.Port})
	}
	for _, m := range append(append([]*Manager{}, managers...), workers...) {
		if err := copyTree(filepath.Join(m.Dir, "data"), filepath.Join(dir, m.Name, "data")); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, seedFile), b, 0o600)
}

// LoadSeed prepares a cluster (nothing runs yet) and its workers under
// dir from the seed in seedDir, for services x replicas; ok is false when
// seedDir holds no such seed.
func LoadSeed(bin, seedDir, dir string, services, replicas, gidBase int) (c *Cluster, workers []*Manager, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(seedDir, seedFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, err
	}
	var s seed
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, nil, false, fmt.Errorf("seed %s: %w", seedDir, err)
	}
	if s.Services != services || s.Replicas != replicas {
		return nil, nil, false, fmt.Errorf("seed %s holds %d x %d, not %d x %d: remove it or name another", seedDir, s.Services, s.Replicas, services, replicas)
	}
	member := func(i int, sm seedMember, gid int) (*Manager, error) {
		if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(sm.Port))); err != nil {
			return nil, fmt.Errorf("seed member %s's port %d is taken (%v): the seed cannot start", sm.Name, sm.Port, err)
		} else {
			l.Close()
		}
		m := &Manager{Index: i, Name: sm.Name, Dir: filepath.Join(dir, sm.Name), Port: sm.Port,
			Listen: net.JoinHostPort("127.0.0.1", strconv.Itoa(sm.Port)), Gid: gid, bin: bin}
		return m, copyTree(filepath.Join(seedDir, sm.Name, "data"), filepath.Join(m.Dir, "data"))
	}
	c = &Cluster{bin: bin}
	for i, sm := range s.Managers {
		m, err := member(i, sm, gidBase+i)
		if err != nil {
			return nil, nil, false, err
		}
		c.Managers = append(c.Managers, m)
	}
	for i, sm := range s.Workers {
		w, err := member(len(s.Managers)+i, sm, os.Getgid())
		if err != nil {
			return nil, nil, false, err
		}
		w.Timings, w.KeepFakeTasks = []string{}, true
		workers = append(workers, w)
	}
	return c, workers, true, nil
}

// StartAll starts every member at once (as after a power cut) and waits
// for their sockets.
func StartAll(ctx context.Context, members []*Manager) error {
	errs := make([]error, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = m.Start(ctx) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// copyTree copies a directory tree with its modes (cp -a): data dirs hold
// keys that must stay private.
func copyTree(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		return err
	}
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		return fmt.Errorf("copying %s: %v: %s", from, err, out)
	}
	return nil
}
