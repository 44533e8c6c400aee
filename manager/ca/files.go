package ca

import (
	"encoding/pem"
	"errors"
	"fmt"
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
func (c *Credentials) Save(dir string) error { return c.SaveSealed(dir, nil) }

// KeySealer seals the node key before it is written and opens it when it
// is read: a manager with autolock keeps its TLS key sealed at rest.
type KeySealer interface {
	Seal(plain []byte) ([]byte, error)
	Open(sealed []byte) ([]byte, error)
}

// sealedKeyType is the PEM type of a key file written through a sealer.
const sealedKeyType = "MINSW SEALED PRIVATE KEY"

// ErrKeySealed is what loading a sealed key without its sealer fails with.
var ErrKeySealed = errors.New("the node key is sealed (autolock): it needs the swarm's unlock key")

// SaveSealed is Save with the key sealed by s (nil: written plain).
func (c *Credentials) SaveSealed(dir string, s KeySealer) error {
	key, chain, roots := c.PEM()
	if len(key) == 0 || len(chain) == 0 || len(roots) == 0 {
		return errors.New("no certificate to save")
	}
	if s != nil {
		sealed, err := s.Seal(key)
		if err != nil {
			return err
		}
		key = pem.EncodeToMemory(&pem.Block{Type: sealedKeyType, Bytes: sealed})
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
	return LoadSealed(dir, clock, nil)
}

// LoadSealed is Load for a key that may be sealed: s opens it.
func LoadSealed(dir string, clock func() time.Time, s KeySealer) (*Credentials, error) {
	read := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, name)) }
	roots, err := read(RootsFile)
	if err != nil {
		return nil, err
	}
	key, err := read(KeyFile)
	if err != nil {
		return nil, err
	}
	if b, _ := pem.Decode(key); b != nil && b.Type == sealedKeyType {
		if s == nil {
			return nil, ErrKeySealed
		}
		if key, err = s.Open(b.Bytes); err != nil {
			return nil, fmt.Errorf("opening the node key: %w", err)
		}
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
