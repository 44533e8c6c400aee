package encryption

import (
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

const (
	dekPEMType    = "MINSW DATA ENCRYPTION KEY"
	dekWrapHeader = "Wrapped-With"
	dekPurpose    = "minsw dek"
)

// ErrLocked is what reading a wrapped DEK without a KEK fails with.
var ErrLocked = errors.New("encryption: the data encryption key is wrapped by the unlock key")

// WriteDEK stores dek at path (0600, replaced atomically): wrapped by kek,
// or plain when kek is nil (autolock off: the key sits beside the data and
// protects nothing on its own, as in Swarm).
func WriteDEK(path string, dek, kek []byte) error {
	blk := &pem.Block{Type: dekPEMType, Bytes: dek}
	if kek != nil {
		a, err := New(kek, dekPurpose)
		if err != nil {
			return err
		}
		if blk.Bytes, err = a.Seal(dek); err != nil {
			return err
		}
		blk.Headers = map[string]string{dekWrapHeader: "unlock-key"}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(blk), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ReadDEK reads the DEK at path, unwrapping it with kek when it is
// wrapped. A wrapped DEK and a nil kek give ErrLocked, a wrong kek
// ErrInvalidUnlockKey; a missing file is os.ErrNotExist.
func ReadDEK(path string, kek []byte) ([]byte, error) {
	blk, err := readDEKBlock(path)
	if err != nil {
		return nil, err
	}
	if blk.Headers[dekWrapHeader] == "" {
		if len(blk.Bytes) != KeySize {
			return nil, fmt.Errorf("encryption: %s: bad key length", path)
		}
		return blk.Bytes, nil
	}
	if kek == nil {
		return nil, ErrLocked
	}
	a, err := New(kek, dekPurpose)
	if err != nil {
		return nil, err
	}
	dek, err := a.Open(blk.Bytes)
	if err != nil {
		return nil, ErrInvalidUnlockKey
	}
	return dek, nil
}

// DEKWrapped says whether the DEK at path needs the unlock key.
func DEKWrapped(path string) (bool, error) {
	blk, err := readDEKBlock(path)
	if err != nil {
		return false, err
	}
	return blk.Headers[dekWrapHeader] != "", nil
}

func readDEKBlock(path string) (*pem.Block, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != dekPEMType {
		return nil, fmt.Errorf("encryption: %s is not a data encryption key", path)
	}
	return blk, nil
}
