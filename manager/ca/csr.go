package ca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
)

// MaxCSRSize bounds what a joining node may send before it is trusted.
const MaxCSRSize = 8 << 10

// NewKeyAndCSR makes a node's private key (ECDSA P-256, PKCS#8 PEM) and a
// certificate request for it. The request's subject is a hint only: the
// manager sets the certificate's subject.
func NewKeyAndCSR() (keyPEM, csrPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "swarm-node"}}, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// CSRFromKey makes a certificate request for an existing key (renewal keeps
// the node's key).
func CSRFromKey(keyPEM []byte) ([]byte, error) {
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "swarm-node"}}, key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// ParseCSR reads a certificate request from an untrusted node: one PEM
// block of type CERTIFICATE REQUEST, nothing else, at most MaxCSRSize, with
// a valid self-signature over an ECDSA P-256 key.
func ParseCSR(in []byte) (*x509.CertificateRequest, error) {
	if len(in) == 0 {
		return nil, errors.New("invalid certificate request: empty")
	}
	if len(in) > MaxCSRSize {
		return nil, fmt.Errorf("invalid certificate request: %d bytes, at most %d", len(in), MaxCSRSize)
	}
	b, rest := pem.Decode(in)
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("invalid certificate request: want one PEM block of type CERTIFICATE REQUEST")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("invalid certificate request: trailing data after the PEM block")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("invalid certificate request: %w", err)
	}
	// The key type first: a request with another key (a huge RSA one, say)
	// is refused before the CA spends time checking its signature.
	pub, ok := csr.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("invalid certificate request: the key must be ECDSA P-256")
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("invalid certificate request: bad signature: %w", err)
	}
	return csr, nil
}

func parseKey(keyPEM []byte) (*ecdsa.PrivateKey, error) {
	b, _ := pem.Decode(keyPEM)
	if b == nil {
		return nil, errors.New("no PEM private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("private key is not ECDSA")
	}
	return ek, nil
}
