package node

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/minsw/minsw/client/join"
	"github.com/minsw/minsw/manager/ca"
	"github.com/minsw/minsw/manager/jointoken"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/agent"
)

// DefaultCertCheckInterval is how often a node asks a manager whether its
// certificate or trusted roots must change (rotation, role change); expiry
// is checked at the same time.
const DefaultCertCheckInterval = 30 * time.Second

// certDir is where the node keeps its key and certificates (0600 files).
func (n *Node) certDir() string { return filepath.Join(n.cfg.DataRoot, "swarm", "certificates") }

// credentials returns the node's TLS credentials (nil outside a swarm).
func (n *Node) credentials() *ca.Credentials {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.creds
}

// dialManager opens a mutual-TLS connection to a manager with the node's
// certificate; only a server holding a manager certificate of this swarm
// is accepted.
func (n *Node) dialManager(creds *ca.Credentials, addr string) (*grpc.ClientConn, error) {
	if creds == nil {
		return nil, errors.New("this node has no certificate")
	}
	return grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(creds.ClientTLS(ca.ManagerServerName))))
}

// agentDial is the agent's DialFunc.
func (n *Node) agentDial(_ context.Context, addr string) (grpc.ClientConnInterface, error) {
	return n.dialManager(n.credentials(), addr)
}

// renewLoop keeps the node's certificate and roots current: every
// CertCheckInterval it asks a manager for the roots; it adopts a changed
// trust bundle (root rotation), and renews when its certificate is past its
// renewal point (50-80% of its life), is not from the root that signs now
// (rotation), or names another role than the store's (promotion, demotion).
func (n *Node) renewLoop(ctx context.Context, a *agent.Agent) {
	creds := n.credentials()
	if creds == nil {
		return
	}
	leaf := creds.Leaf()
	renewAt := ca.RenewAt(leaf, nil)
	for {
		if err := n.checkCertificate(ctx, a, creds, &leaf, &renewAt); err != nil && ctx.Err() == nil {
			n.log.Warn("certificate check", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(n.cfg.CertCheckInterval):
		case <-a.Changed(): // the role may have changed
		}
	}
}

func (n *Node) checkCertificate(ctx context.Context, a *agent.Agent, creds *ca.Credentials, leaf **x509.Certificate, renewAt *time.Time) error {
	addr := a.Leader()
	if addr == "" {
		return nil // no session: nothing to ask
	}
	conn, err := n.dialManager(creds, addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r, err := api.NewMembershipClient(conn).GetRootCA(cctx, &api.GetRootCARequest{})
	if err != nil {
		return err
	}
	if _, _, roots := creds.PEM(); !bytes.Equal(roots, r.GetTrustBundle()) && !r.GetRotating() {
		// A rotation ended: trust only what the swarm trusts now.
		if err := creds.SetRoots(r.GetTrustBundle()); err != nil {
			return err
		}
		if err := n.saveCredentials(creds); err != nil {
			return err
		}
		n.log.Info("trusted root CA updated")
	}
	reason := ""
	id, _ := creds.Identity()
	switch {
	case !creds.Now().Before(*renewAt):
		reason = "expiry"
	case r.GetRotating() && !signedBy(*leaf, r.GetTrustBundle(), r.GetSigningRootDigest()):
		reason = "root rotation"
	case a.Node() != nil && roleOf(a.Node().GetSpec().GetDesiredRole()) != id.Role:
		reason = "role change"
	}
	if reason == "" {
		return nil
	}
	if err := join.RenewCertificate(cctx, conn, creds); err != nil {
		return fmt.Errorf("renewing the certificate (%s): %w", reason, err)
	}
	if err := n.saveCredentials(creds); err != nil {
		return err
	}
	*leaf = creds.Leaf()
	*renewAt = ca.RenewAt(*leaf, nil)
	n.log.Info("certificate renewed", "reason", reason, "expires", (*leaf).NotAfter)
	return nil
}

// signedBy says whether leaf was signed by the root in bundle whose digest
// is digest.
func signedBy(leaf *x509.Certificate, bundle []byte, digest string) bool {
	roots, err := ca.ParseCertificates(bundle)
	if err != nil {
		return false
	}
	for _, r := range roots {
		if jointoken.Digest(r.Raw) == digest {
			return leaf.CheckSignatureFrom(r) == nil
		}
	}
	return false
}

func roleOf(r api.NodeRole) string {
	if r == api.NodeRole_NODE_ROLE_MANAGER {
		return ca.ManagerRole
	}
	return ca.WorkerRole
}

// renewNow renews the certificate through the manager at addr at once
// (promotion needs the manager certificate before the manager starts).
func (n *Node) renewNow(ctx context.Context, addr string) error {
	creds := n.credentials()
	conn, err := n.dialManager(creds, addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := join.RenewCertificate(ctx, conn, creds); err != nil {
		return err
	}
	return n.saveCredentials(creds)
}
