// Package jointoken makes and reads Swarm-style join tokens:
// SWMTKN-1-<digest of the cluster's root CA, base36, 50 chars>-<secret, 25
// chars>. The digest lets a joining node check the CA it is offered before
// trusting it; the secret says which role the token grants.
package jointoken

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"math/big"
	"regexp"
	"strings"
)

const (
	prefix       = "SWMTKN"
	version      = "1"
	digestLen    = 50
	secretLen    = 25
	secretBytes  = 16
	digestBase36 = 36
)

var tokenRE = regexp.MustCompile(`^SWMTKN-1-([0-9a-z]{50})-([0-9a-z]{25})$`)

// Token is a parsed join token.
type Token struct {
	Digest string // base36 SHA-256 of the root CA certificate (DER or PEM as stored)
	Secret string
}

func (t Token) String() string {
	return fmt.Sprintf("%s-%s-%s-%s", prefix, version, t.Digest, t.Secret)
}

func base36(b []byte, n int) string {
	s := new(big.Int).SetBytes(b).Text(digestBase36)
	if len(s) < n {
		s = strings.Repeat("0", n-len(s)) + s
	}
	return s[len(s)-n:]
}

// Digest returns the base36 digest of a root CA certificate.
func Digest(caCert []byte) string {
	sum := sha256.Sum256(caCert)
	return base36(sum[:], digestLen)
}

// New makes a token for the CA with a fresh secret read from r (nil:
// crypto/rand).
func New(caCert []byte, r io.Reader) (Token, error) {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, secretBytes)
	if _, err := io.ReadFull(r, b); err != nil {
		return Token{}, err
	}
	return Token{Digest: Digest(caCert), Secret: base36(b, secretLen)}, nil
}

// Parse reads a token, saying why a malformed one is refused.
func Parse(s string) (Token, error) {
	m := tokenRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		if !strings.HasPrefix(s, prefix+"-") {
			return Token{}, fmt.Errorf("invalid join token: it does not start with %s-", prefix)
		}
		return Token{}, fmt.Errorf("invalid join token: want %s-1-<50 base36 chars>-<25 base36 chars>", prefix)
	}
	return Token{Digest: m[1], Secret: m[2]}, nil
}

// Equal compares two tokens in constant time.
func Equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
