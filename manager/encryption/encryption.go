// Package encryption holds a manager's data at rest under keys: AES-256-GCM
// sealing with a purpose bound to every ciphertext, the data encryption
// key (DEK) file that is plain or wrapped by the key-encryption key (KEK),
// and Swarm-style unlock keys (SWMKEY-1-...) that the KEK comes from. It
// knows nothing of raft or TLS; its callers decide what to seal.
package encryption

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// KeySize is the size of every key here (AES-256).
const KeySize = 32

// magic starts every sealed value. A protobuf message cannot start with a
// zero byte (field number 0 is invalid) nor can raft's msgpack, so data
// written before encryption was on is told apart and still read.
var magic = []byte{0x00, 'm', 'e', '1'}

// Purposes of what a manager's data encryption key seals.
const (
	PurposeRaft    = "minsw raft"     // raft entries and snapshots
	PurposeNodeKey = "minsw node key" // the node's TLS key, under autolock
)

// ErrDecrypt is what opening a value with the wrong key (or a tampered
// value) fails with.
var ErrDecrypt = errors.New("encryption: message authentication failed (wrong key or corrupted data)")

// AEAD seals and opens values for one purpose with one key.
type AEAD struct {
	gcm     cipher.AEAD
	purpose []byte
}

// New returns an AEAD for key. purpose is authenticated with every value
// (not stored), so a value sealed for one use cannot be passed off as
// another (a raft entry as a snapshot, a TLS key as a DEK).
func New(key []byte, purpose string) (*AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("encryption: key is %d bytes, want %d", len(key), KeySize)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	return &AEAD{gcm: gcm, purpose: []byte(purpose)}, nil
}

// Seal returns magic || nonce || ciphertext+tag; the nonce is random (96
// bits), which is safe for far more values than a manager writes per key.
func (a *AEAD) Seal(plain []byte) ([]byte, error) {
	out := make([]byte, len(magic)+a.gcm.NonceSize(), len(magic)+a.gcm.NonceSize()+len(plain)+a.gcm.Overhead())
	copy(out, magic)
	nonce := out[len(magic):]
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return a.gcm.Seal(out, nonce, plain, a.purpose), nil
}

// Open reverses Seal.
func (a *AEAD) Open(sealed []byte) ([]byte, error) {
	if !IsSealed(sealed) || len(sealed) < len(magic)+a.gcm.NonceSize()+a.gcm.Overhead() {
		return nil, errors.New("encryption: not a sealed value")
	}
	rest := sealed[len(magic):]
	nonce, ct := rest[:a.gcm.NonceSize()], rest[a.gcm.NonceSize():]
	plain, err := a.gcm.Open(nil, nonce, ct, a.purpose)
	if err != nil {
		return nil, ErrDecrypt
	}
	return plain, nil
}

// IsSealed says whether b was written by Seal (as opposed to plain data
// from before encryption was on).
func IsSealed(b []byte) bool { return bytes.HasPrefix(b, magic) }

// NewKey returns KeySize random bytes (a DEK).
func NewKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	return k, nil
}

// IsSealed is the package's IsSealed, so an AEAD satisfies interfaces
// that ask it of a value.
func (a *AEAD) IsSealed(b []byte) bool { return IsSealed(b) }
