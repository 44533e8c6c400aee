package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"testing"
)

// FuzzParseCSR feeds ParseCSR what an unauthenticated joining node may
// send: it must never panic, and whatever it accepts must be a correctly
// self-signed request over a P-256 key that the CA can sign.
func FuzzParseCSR(f *testing.F) {
	_, good, err := NewKeyAndCSR()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n"))
	f.Add([]byte{})
	root, err := NewRootCA("fuzz", t0)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		csr, err := ParseCSR(in)
		if err != nil {
			return
		}
		if err := csr.CheckSignature(); err != nil {
			t.Fatalf("accepted a CSR with a bad signature: %v", err)
		}
		pub, ok := csr.PublicKey.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P256() {
			t.Fatalf("accepted a %T key", csr.PublicKey)
		}
		if _, err := root.Issue(csr, Identity{NodeID: "n", Role: WorkerRole, ClusterID: "fuzz"}, 0, t0); err != nil {
			t.Fatalf("accepted CSR cannot be signed: %v", err)
		}
	})
}
