package convert

import (
	"crypto/x509"
	"encoding/pem"

	"github.com/docker/docker/api/types/swarm"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// rootTLSInfo is the cluster's TLSInfo as swarmkit's: the root CA, its
// subject and public key (what a node's certificate must be issued by).
func rootTLSInfo(rootDER []byte) swarm.TLSInfo {
	if len(rootDER) == 0 {
		return swarm.TLSInfo{}
	}
	out := swarm.TLSInfo{TrustRoot: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER}))}
	if root, err := x509.ParseCertificate(rootDER); err == nil {
		out.CertIssuerSubject, out.CertIssuerPublicKey = root.RawSubject, root.RawSubjectPublicKeyInfo
	}
	return out
}

// NodeTLSInfo fills a node's Description.TLSInfo from its certificate, as
// swarmkit's: the root it trusts, and its certificate's issuer. docker's
// CLI compares it with the cluster's (node ls --format '{{.TLSStatus}}':
// Ready, or "Needs Rotation" for a node whose certificate the current root
// did not sign, as during a root rotation); without it it said Unknown.
func NodeTLSInfo(out *swarm.Node, n *api.Node, rootDER []byte) {
	block, _ := pem.Decode(n.GetCertificate())
	if block == nil || len(rootDER) == 0 {
		return
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return
	}
	root, err := x509.ParseCertificate(rootDER)
	if err != nil {
		return
	}
	info := swarm.TLSInfo{TrustRoot: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER})), CertIssuerSubject: cert.RawIssuer}
	if cert.CheckSignatureFrom(root) == nil {
		info.CertIssuerPublicKey = root.RawSubjectPublicKeyInfo
	}
	out.Description.TLSInfo = info
}
