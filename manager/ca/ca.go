// Package ca is the swarm's certificate authority: it makes the root CA,
// issues node certificates from certificate requests, verifies a peer's
// certificate into an Identity (node ID, role, cluster), cross-signs a new
// root during a rotation, builds the mutual-TLS configurations every
// node-to-node connection uses, and keeps a node's key and certificates on
// disk. It holds no cluster state: the manager decides who gets which
// certificate and checks the store for revocation; this package only does
// the cryptography and its policy (ECDSA P-256, TLS 1.3, fixed names).
package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// Roles, as the certificate's OU says them (Swarm's names).
const (
	ManagerRole = "swarm-manager"
	WorkerRole  = "swarm-worker"
)

// ManagerServerName is the server name clients send when they dial a
// manager (TLS SNI only). It proves nothing: a manager is recognised by the
// role in its certificate's OU, which the CA alone writes, and by its node
// ID being a manager the client knows (Credentials.SetManagerCheck). The
// names in a certificate carry no role.
const ManagerServerName = ManagerRole

// MaxNodeIDLength bounds a node ID in a certificate: the CA makes 25
// characters; anything much longer is not one of ours.
const MaxNodeIDLength = 64

// ValidNodeID refuses a node ID that the CA would never have made and that
// could mean something where IDs are used as names: path separators and
// dots (file names), commas (the forwarded-identity header), anything but
// letters, digits, '-' and '_', or more than MaxNodeIDLength characters.
func ValidNodeID(id string) error {
	if id == "" {
		return errors.New("empty node ID")
	}
	if len(id) > MaxNodeIDLength {
		return fmt.Errorf("node ID of %d characters: at most %d", len(id), MaxNodeIDLength)
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
		if !ok {
			return fmt.Errorf("node ID %q has the character %q: only letters, digits, '-' and '_'", id, r)
		}
	}
	return nil
}

// Certificate lifetimes.
const (
	DefaultCertExpiry = 90 * 24 * time.Hour
	// MinCertExpiry is the shortest node certificate lifetime accepted
	// (Swarm's too): renewal runs at half of it at the earliest.
	MinCertExpiry = time.Hour
	RootCAExpiry  = 20 * 365 * 24 * time.Hour
	// backdate absorbs clock skew between the signing manager and the node.
	backdate = 5 * time.Minute
	// rootBackdate lets a new root vouch for nodes whose clocks are behind.
	rootBackdate = 24 * time.Hour
)

// Identity is who a certificate says its holder is.
type Identity struct {
	NodeID    string
	Role      string // ManagerRole or WorkerRole
	ClusterID string
}

// IsManager says whether the certificate grants manager rights.
func (id Identity) IsManager() bool { return id.Role == ManagerRole }

// IdentityOf reads the identity of a node certificate; it does not verify
// it (Verify does).
func IdentityOf(c *x509.Certificate) (Identity, error) {
	id := Identity{NodeID: c.Subject.CommonName}
	if len(c.Subject.OrganizationalUnit) == 1 {
		id.Role = c.Subject.OrganizationalUnit[0]
	}
	if len(c.Subject.Organization) == 1 {
		id.ClusterID = c.Subject.Organization[0]
	}
	switch {
	case id.NodeID == "":
		return Identity{}, errors.New("certificate has no node ID (CN)")
	case ValidNodeID(id.NodeID) != nil:
		return Identity{}, fmt.Errorf("certificate names no valid node: %w", ValidNodeID(id.NodeID))
	case id.Role != ManagerRole && id.Role != WorkerRole:
		return Identity{}, fmt.Errorf("certificate of node %s has no swarm role (OU %q)", id.NodeID, c.Subject.OrganizationalUnit)
	case id.ClusterID == "":
		return Identity{}, fmt.Errorf("certificate of node %s has no cluster ID (O)", id.NodeID)
	}
	return id, nil
}

// RootCA is a root certificate and, where this process may sign, its key.
type RootCA struct {
	Cert *x509.Certificate
	Key  crypto.Signer // nil: verify only
	// Intermediates are presented after every certificate this CA issues:
	// during a rotation, the new root cross-signed by the old one, so nodes
	// still trusting only the old root accept the new certificates.
	Intermediates []*x509.Certificate
}

// NewRootCA makes a self-signed ECDSA P-256 root for a cluster.
func NewRootCA(clusterID string, now time.Time) (*RootCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	ski, err := keyID(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		// Each root gets its own subject, so chains through the old and the
		// new root during a rotation never mix them up.
		Subject:               pkix.Name{CommonName: "swarm-ca", Organization: []string{clusterID}, SerialNumber: hex.EncodeToString(ski[:8])},
		NotBefore:             now.Add(-rootBackdate),
		NotAfter:              now.Add(RootCAExpiry),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// One intermediate below a root: the cross-signed new root.
		MaxPathLen:   1,
		SubjectKeyId: ski,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &RootCA{Cert: cert, Key: key}, nil
}

// ParseRootCA reads a root certificate (DER) and, if given, its PKCS#8
// key (DER), checking that they belong together.
func ParseRootCA(certDER, keyDER []byte) (*RootCA, error) {
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, fmt.Errorf("root CA certificate: %w", err)
	}
	if !cert.IsCA {
		return nil, errors.New("root CA certificate is not a CA")
	}
	r := &RootCA{Cert: cert}
	if len(keyDER) == 0 {
		return r, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		return nil, fmt.Errorf("root CA key: %w", err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || !ek.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("root CA key does not match its certificate")
	}
	r.Key = ek
	return r, nil
}

// KeyDER is the root key as PKCS#8 DER, as the cluster object stores it.
func (r *RootCA) KeyDER() ([]byte, error) {
	if r.Key == nil {
		return nil, errors.New("root CA has no key here")
	}
	return x509.MarshalPKCS8PrivateKey(r.Key)
}

// Issue signs a node certificate for the CSR's public key. The subject is
// the manager's decision (id), never the CSR's: CN = node ID, OU = role,
// O = cluster ID. It returns the PEM chain to present: the certificate,
// then the CA's intermediates.
func (r *RootCA) Issue(csr *x509.CertificateRequest, id Identity, expiry time.Duration, now time.Time) ([]byte, error) {
	if r.Key == nil {
		return nil, errors.New("cannot issue certificates: this CA has no signing key")
	}
	if id.NodeID == "" || id.ClusterID == "" || (id.Role != ManagerRole && id.Role != WorkerRole) {
		return nil, fmt.Errorf("cannot issue a certificate for %+v: node ID, role and cluster are required", id)
	}
	if err := ValidNodeID(id.NodeID); err != nil {
		return nil, fmt.Errorf("cannot issue a certificate: %w", err)
	}
	if expiry <= 0 {
		expiry = DefaultCertExpiry
	}
	if expiry < MinCertExpiry {
		expiry = MinCertExpiry
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(expiry)
	if notAfter.After(r.Cert.NotAfter) {
		notAfter = r.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: id.NodeID, OrganizationalUnit: []string{id.Role}, Organization: []string{id.ClusterID}},
		// The node ID as its only name: a name never says a role (a joiner
		// once picked the name "swarm-manager" for itself); OU does.
		DNSNames:              []string{id.NodeID},
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, r.Cert, csr.PublicKey, r.Key)
	if err != nil {
		return nil, err
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	for _, c := range r.Intermediates {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out, nil
}

// CrossSign makes the certificate a rotation presents between new
// certificates and nodes that still trust only the old root: the new root's
// subject and key, signed by the old root (r).
func (r *RootCA) CrossSign(newRoot *x509.Certificate, now time.Time) (*x509.Certificate, error) {
	if r.Key == nil {
		return nil, errors.New("cannot cross-sign: the old root's key is not here")
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	notAfter := newRoot.NotAfter
	if notAfter.After(r.Cert.NotAfter) {
		notAfter = r.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               newRoot.Subject,
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		SubjectKeyId:          newRoot.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, r.Cert, newRoot.PublicKey, r.Key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// VerifyCrossSigned checks that cross is newRoot's key signed by oldRoot,
// so a node that trusts oldRoot may take newRoot on its word.
func VerifyCrossSigned(cross, newRoot, oldRoot *x509.Certificate) error {
	if !cross.IsCA || cross.Subject.String() != newRoot.Subject.String() {
		return errors.New("cross-signed certificate does not name the new root")
	}
	pub, ok := cross.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(newRoot.PublicKey) {
		return errors.New("cross-signed certificate does not carry the new root's key")
	}
	if err := cross.CheckSignatureFrom(oldRoot); err != nil {
		return fmt.Errorf("cross-signed certificate not signed by the current root: %w", err)
	}
	return nil
}

// Verify checks a presented chain (leaf first) against roots at now and
// returns the leaf's identity. usage is what the leaf is used for here:
// x509.ExtKeyUsageClientAuth on a server, ServerAuth on a client. A
// non-empty serverName must be among the leaf's names.
func Verify(chain []*x509.Certificate, roots *x509.CertPool, now time.Time, usage x509.ExtKeyUsage, serverName string) (Identity, error) {
	if len(chain) == 0 {
		return Identity{}, errors.New("no certificate presented")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{usage}, DNSName: serverName,
	})
	if err != nil {
		return Identity{}, err
	}
	return IdentityOf(chain[0])
}

// ParseCertificates reads every CERTIFICATE block of a PEM bundle.
func ParseCertificates(pemBytes []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, pemBytes = pem.Decode(pemBytes)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no certificate found")
	}
	return out, nil
}

// EncodeCertificates writes certificates as a PEM bundle.
func EncodeCertificates(cs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range cs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

func randomSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// keyID is the RFC 5280 (method 1) key identifier of a public key.
func keyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	sum := sha1.Sum(der)
	return sum[:], nil
}
