package encryption

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
)

const unlockKeyPrefix = "SWMKEY-1-"

// ErrInvalidUnlockKey is the one error a malformed or wrong unlock key
// gets, whichever it is, as Docker answers.
var ErrInvalidUnlockKey = errors.New("swarm could not be unlocked: invalid key provided")

// NewUnlockKey returns a new unlock key: SWMKEY-1- and 32 random bytes in
// unpadded base64, the form Docker prints.
func NewUnlockKey() (string, error) {
	k, err := NewKey()
	if err != nil {
		return "", err
	}
	return unlockKeyPrefix + base64.RawStdEncoding.EncodeToString(k), nil
}

// KEK returns the key-encryption key an unlock key stands for. The random
// bytes are hashed with a label so the KEK is never the printed secret
// itself used for another purpose.
func KEK(unlockKey string) ([]byte, error) {
	s := strings.TrimSpace(unlockKey)
	if !strings.HasPrefix(s, unlockKeyPrefix) {
		return nil, ErrInvalidUnlockKey
	}
	raw, err := base64.RawStdEncoding.DecodeString(s[len(unlockKeyPrefix):])
	if err != nil || len(raw) != KeySize {
		return nil, ErrInvalidUnlockKey
	}
	sum := sha256.Sum256(append([]byte("minsw kek v1\x00"), raw...))
	return sum[:], nil
}
