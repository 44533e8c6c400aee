package ca

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"
)

// Credentials are a node's TLS identity: its key and certificate chain and
// the roots it trusts. They change under running listeners and clients
// (renewal, root rotation), so the TLS configurations built from them read
// them at each handshake.
type Credentials struct {
	clock func() time.Time

	mu       sync.RWMutex
	cert     *tls.Certificate // nil before the node has one (joining)
	keyPEM   []byte
	chainPEM []byte
	roots    *x509.CertPool
	rootsPEM []byte
	// managerCheck, if set, is asked about every manager this node dials
	// (SetManagerCheck).
	managerCheck func(Identity) error
}

// SetManagerCheck installs the node's knowledge of who the managers are:
// every client connection to a manager built from these credentials asks
// check about the server's identity (already verified: root, manager OU,
// this swarm) and is refused if it says no. The daemon's check accepts the
// node IDs of the current managers it knows of, so a certificate that once
// was a manager's (demoted, removed) cannot pose as one.
func (c *Credentials) SetManagerCheck(check func(Identity) error) {
	c.mu.Lock()
	c.managerCheck = check
	c.mu.Unlock()
}

// NewCredentials returns empty credentials; clock (nil: time.Now) is the
// time certificates are checked at.
func NewCredentials(clock func() time.Time) *Credentials {
	if clock == nil {
		clock = time.Now
	}
	return &Credentials{clock: clock}
}

// Now is the credentials' clock.
func (c *Credentials) Now() time.Time { return c.clock() }

// SetRoots replaces the trusted roots (a PEM bundle).
func (c *Credentials) SetRoots(rootsPEM []byte) error {
	certs, err := ParseCertificates(rootsPEM)
	if err != nil {
		return fmt.Errorf("trusted roots: %w", err)
	}
	pool := x509.NewCertPool()
	for _, r := range certs {
		pool.AddCert(r)
	}
	c.mu.Lock()
	c.roots, c.rootsPEM = pool, append([]byte(nil), rootsPEM...)
	c.mu.Unlock()
	return nil
}

// Set installs a key and its certificate chain, after checking that they
// match and that the chain verifies against the trusted roots now.
func (c *Credentials) Set(keyPEM, chainPEM []byte) error { return c.set(keyPEM, chainPEM, true) }

// set is Set; with checkTime false the chain is checked at a moment inside
// the leaf's validity, so an expired certificate can still be loaded.
func (c *Credentials) set(keyPEM, chainPEM []byte, checkTime bool) error {
	pair, err := tls.X509KeyPair(chainPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("node certificate and key: %w", err)
	}
	chain, err := ParseCertificates(chainPEM)
	if err != nil {
		return err
	}
	pair.Leaf = chain[0]
	c.mu.RLock()
	roots := c.roots
	c.mu.RUnlock()
	if roots == nil {
		return errors.New("node certificate: no trusted roots set")
	}
	at := c.clock()
	if !checkTime {
		at = chain[0].NotBefore.Add(chain[0].NotAfter.Sub(chain[0].NotBefore) / 2)
	}
	if _, err := Verify(chain, roots, at, x509.ExtKeyUsageClientAuth, ""); err != nil {
		return fmt.Errorf("node certificate does not verify against the swarm's root CA: %w", err)
	}
	c.mu.Lock()
	c.cert, c.keyPEM, c.chainPEM = &pair, append([]byte(nil), keyPEM...), append([]byte(nil), chainPEM...)
	c.mu.Unlock()
	return nil
}

// Leaf returns the node's certificate (nil before it has one).
func (c *Credentials) Leaf() *x509.Certificate {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.cert == nil {
		return nil
	}
	return c.cert.Leaf
}

// Identity is what the node's own certificate says.
func (c *Credentials) Identity() (Identity, error) {
	l := c.Leaf()
	if l == nil {
		return Identity{}, errors.New("this node has no certificate")
	}
	return IdentityOf(l)
}

// PEM returns the key, the certificate chain and the roots, for saving.
func (c *Credentials) PEM() (keyPEM, chainPEM, rootsPEM []byte) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.keyPEM, c.chainPEM, c.rootsPEM
}

// Roots returns the trusted roots pool (nil before any is set).
func (c *Credentials) Roots() *x509.CertPool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.roots
}

// ClientAuth says what a server asks of its clients.
type ClientAuth int

const (
	// RequireClientCert: every client presents a certificate (raft).
	RequireClientCert ClientAuth = iota
	// ClientCertIfGiven: a client may come without one (the gRPC port,
	// where joining nodes have none yet); the server's authorization
	// decides per call.
	ClientCertIfGiven
)

// ServerTLS is the configuration of a TLS 1.3 server presenting the node's
// certificate and verifying clients' against the trusted roots. verify, if
// set, is called with the verified client identity and may refuse it.
func (c *Credentials) ServerTLS(auth ClientAuth, verify func(Identity) error, nextProtos ...string) *tls.Config {
	base := &tls.Config{MinVersion: tls.VersionTLS13, NextProtos: nextProtos}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c.mu.RLock()
		cert, roots := c.cert, c.roots
		c.mu.RUnlock()
		if cert == nil || roots == nil {
			return nil, errors.New("this node has no certificate yet")
		}
		cfg := &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{*cert},
			ClientCAs:    roots,
			NextProtos:   nextProtos,
			Time:         c.clock,
			ClientAuth:   tls.VerifyClientCertIfGiven,
		}
		if auth == RequireClientCert {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil // only possible with ClientCertIfGiven
			}
			id, err := IdentityOf(cs.PeerCertificates[0])
			if err != nil {
				return err
			}
			if verify != nil {
				return verify(id)
			}
			return nil
		}
		return cfg, nil
	}
	return base
}

// ClientTLS is the configuration of a TLS 1.3 client presenting the node's
// certificate (if it has one) and accepting only a manager of this swarm:
// a certificate that verifies against the trusted roots, whose OU says
// manager, whose cluster (O) is this node's own (once it has a
// certificate), and that the manager check (SetManagerCheck) accepts.
// serverName is sent as SNI only: no name in a certificate grants a role.
func (c *Credentials) ClientTLS(serverName string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ServerName: serverName,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			c.mu.RLock()
			defer c.mu.RUnlock()
			if c.cert == nil {
				return &tls.Certificate{}, nil // none: only JoinCluster will be served
			}
			return c.cert, nil
		},
		// The roots change at run time (rotation), which a static RootCAs
		// cannot follow: verification is done in full by VerifyConnection,
		// against the roots of the moment.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return c.verifyManager(cs.PeerCertificates)
		},
	}
}

// verifyManager is the client's decision on a server claiming to be a
// manager of this swarm.
func (c *Credentials) verifyManager(chain []*x509.Certificate) error {
	c.mu.RLock()
	roots, own, check := c.roots, c.cert, c.managerCheck
	c.mu.RUnlock()
	if roots == nil {
		return errors.New("no trusted root CA to verify the manager with")
	}
	id, err := Verify(chain, roots, c.clock(), x509.ExtKeyUsageServerAuth, "")
	if err != nil {
		return fmt.Errorf("manager certificate refused: %w", err)
	}
	if !id.IsManager() {
		return fmt.Errorf("manager certificate refused: node %s is not a manager (its certificate's role is %s)", id.NodeID, id.Role)
	}
	if own != nil {
		mine, err := IdentityOf(own.Leaf)
		if err == nil && mine.ClusterID != id.ClusterID {
			return fmt.Errorf("manager certificate refused: node %s belongs to another swarm (%s)", id.NodeID, id.ClusterID)
		}
	}
	if check != nil {
		if err := check(id); err != nil {
			return fmt.Errorf("manager certificate refused: %w", err)
		}
	}
	return nil
}

// FetchRootTLS is the one client configuration that does not verify the
// server: it is used only to read the root CA a joining node then checks
// against its token's digest before trusting anything it received.
func FetchRootTLS() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true}
}

// RenewAt is when a certificate should be renewed: at a random point
// between 50% and 80% of its life, so a swarm's nodes do not all renew at
// once. r (nil: crypto/rand) picks the point.
func RenewAt(cert *x509.Certificate, pick func(n int64) int64) time.Time {
	life := cert.NotAfter.Sub(cert.NotBefore)
	if pick == nil {
		pick = func(n int64) int64 {
			v, err := rand.Int(rand.Reader, big.NewInt(n))
			if err != nil {
				return n / 2
			}
			return v.Int64()
		}
	}
	span := int64(life) * 3 / 10
	off := int64(life) / 2
	if span > 0 {
		off += pick(span)
	}
	return cert.NotBefore.Add(time.Duration(off))
}

// Bootstrap makes what swarm init needs before its manager starts: the new
// swarm's root CA and the first manager's credentials, issued by it.
func Bootstrap(clusterID, nodeID string, expiry time.Duration, clock func() time.Time) (*RootCA, *Credentials, error) {
	if clock == nil {
		clock = time.Now
	}
	root, err := NewRootCA(clusterID, clock())
	if err != nil {
		return nil, nil, err
	}
	key, csrPEM, err := NewKeyAndCSR()
	if err != nil {
		return nil, nil, err
	}
	csr, err := ParseCSR(csrPEM)
	if err != nil {
		return nil, nil, err
	}
	chain, err := root.Issue(csr, Identity{NodeID: nodeID, Role: ManagerRole, ClusterID: clusterID}, expiry, clock())
	if err != nil {
		return nil, nil, err
	}
	c := NewCredentials(clock)
	if err := c.SetRoots(EncodeCertificates(root.Cert)); err != nil {
		return nil, nil, err
	}
	if err := c.Set(key, chain); err != nil {
		return nil, nil, err
	}
	return root, c, nil
}
