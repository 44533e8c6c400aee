package ca

import (
	"errors"
	"os"
	"path/filepath"
	"time"
)

// File names under a node's certificates directory
// (<data-root>/swarm/certificates), as Swarm names them.
const (
	KeyFile   = "swarm-node.key"
	CertFile  = "swarm-node.crt"
	RootsFile = "swarm-root-ca.crt"
)

// Save writes the credentials' key, chain and roots to dir, each 0600 and
// replaced atomically, so a crash mid-renewal leaves the old or the new
// files, never half of one.
func (c *Credentials) Save(dir string) error {
	key, chain, roots := c.PEM()
	if len(key) == 0 || len(chain) == 0 || len(roots) == 0 {
		return errors.New("no certificate to save")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, b := range map[string][]byte{KeyFile: key, CertFile: chain, RootsFile: roots} {
		if err := writeFile(filepath.Join(dir, name), b); err != nil {
			return err
		}
	}
	return nil
}

// Load reads credentials saved by Save. The certificate is not checked for
// expiry here (an expired node can still learn that it is), only that key,
// chain and roots belong together.
func Load(dir string, clock func() time.Time) (*Credentials, error) {
	read := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, name)) }
	roots, err := read(RootsFile)
	if err != nil {
		return nil, err
	}
	key, err := read(KeyFile)
	if err != nil {
		return nil, err
	}
	chain, err := read(CertFile)
	if err != nil {
		return nil, err
	}
	c := NewCredentials(clock)
	if err := c.SetRoots(roots); err != nil {
		return nil, err
	}
	if err := c.set(key, chain, false); err != nil {
		return nil, err
	}
	return c, nil
}

func writeFile(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
