// Package identity makes object IDs as Swarm does: 128 random bits written
// in base36, always 25 characters, so any prefix of them is a fair handle.
package identity

import (
	"crypto/rand"
	"io"
	"math/big"
)

// IDLength is the length of every ID; ShortLength what tables show.
const (
	IDLength    = 25
	ShortLength = 12
)

// Generator makes IDs from a source of randomness (injected so tests can
// make reproducible IDs).
type Generator struct{ rand io.Reader }

// NewGenerator returns a Generator reading r; nil means crypto/rand.
func NewGenerator(r io.Reader) *Generator {
	if r == nil {
		r = rand.Reader
	}
	return &Generator{rand: r}
}

// NewID returns a fresh 25-character base36 ID.
func (g *Generator) NewID() string {
	var b [16]byte
	if _, err := io.ReadFull(g.rand, b[:]); err != nil {
		panic("identity: reading randomness: " + err.Error())
	}
	s := new(big.Int).SetBytes(b[:]).Text(36)
	for len(s) < IDLength {
		s = "0" + s
	}
	return s
}

var std = NewGenerator(nil)

// NewID returns a fresh ID from crypto/rand.
func NewID() string { return std.NewID() }

// Short truncates an ID to what tables show.
func Short(id string) string {
	if len(id) > ShortLength {
		return id[:ShortLength]
	}
	return id
}
