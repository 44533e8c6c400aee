// Package ipsec decides whether this node can carry an encrypted overlay
// network (docker network create --opt encrypted): Swarm encrypts VXLAN
// between nodes with IPsec ESP in AES-GCM, which needs the kernel's ESP
// (CONFIG_INET_ESP) and GCM (CONFIG_CRYPTO_GCM). It asks the kernel and
// words the refusal; it does not program IPsec. minsw does not encrypt the
// overlay data plane yet, so even a kernel that has both is refused: an
// encrypted network's traffic must never go in clear.
package ipsec

import (
	"strings"
	"sync"

	"github.com/minsw/minsw/internal/errdefs"
)

// Option is the driver option that asks for an encrypted overlay.
const Option = "encrypted"

// Features is what the kernel offers an encrypted overlay.
type Features struct {
	ESP    bool // IPsec ESP transforms (CONFIG_INET_ESP)
	AESGCM bool // AES-GCM for ESP, rfc4106(gcm(aes)) (CONFIG_CRYPTO_GCM)
}

// Missing names the features an encrypted overlay needs that are absent,
// as a user would look them up in a kernel config.
func (f Features) Missing() []string {
	var out []string
	if !f.ESP {
		out = append(out, "IPsec ESP (CONFIG_INET_ESP)")
	}
	if !f.AESGCM {
		out = append(out, "AES-GCM (CONFIG_CRYPTO_GCM)")
	}
	return out
}

// Refusal is the error for an encrypted network named network on a node
// with f: the missing kernel features, or, when none is missing, that
// minsw does not program ESP yet.
func Refusal(network string, f Features) error {
	if m := f.Missing(); len(m) > 0 {
		return errdefs.FailedPrecondition("overlay network %s is encrypted but this node's kernel has no %s", network, strings.Join(m, " / "))
	}
	return errdefs.FailedPrecondition("overlay network %s is encrypted, and minsw does not encrypt the overlay data plane (IPsec ESP) yet: its traffic would cross the underlay in clear", network)
}

// Checker probes the kernel once and refuses encrypted networks after it.
type Checker struct {
	probe func() (Features, error)
	once  sync.Once
	f     Features
	err   error
}

// NewChecker returns a Checker asking this kernel (Probe).
func NewChecker() *Checker { return &Checker{probe: Probe} }

// NewCheckerWith returns a Checker with another probe (tests).
func NewCheckerWith(probe func() (Features, error)) *Checker { return &Checker{probe: probe} }

// Check returns the refusal for an encrypted network named network (today
// always one, see the package comment); an undecidable kernel refuses too.
func (c *Checker) Check(network string) error {
	c.once.Do(func() { c.f, c.err = c.probe() })
	if c.err != nil {
		return errdefs.FailedPrecondition("overlay network %s is encrypted but this node cannot tell whether its kernel has IPsec ESP and AES-GCM: %v", network, c.err)
	}
	return Refusal(network, c.f)
}

// Encrypted says whether driver options ask for encryption: the key's
// presence does, as in Docker (--opt encrypted, encrypted=true).
func Encrypted(driverOpts map[string]string) bool {
	_, ok := driverOpts[Option]
	return ok
}

// ValidateOption checks the option's value: none or "true". Docker takes
// any value, so encrypted=false encrypts there; here it is refused rather
// than read one way or the other.
func ValidateOption(driverOpts map[string]string) error {
	v, ok := driverOpts[Option]
	if !ok {
		return nil
	}
	switch strings.ToLower(v) {
	case "", "true":
		return nil
	}
	return errdefs.InvalidArgument("invalid value %q for option %s: give --opt encrypted (or encrypted=true), or leave the option out", v, Option)
}
