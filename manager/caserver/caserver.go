// Package caserver is the swarm's certificate authority on the managers: it
// issues node certificates from the root in the store (joins, renewals) and
// carries a root rotation through, from the cross-signed new root to the
// moment every node holds a certificate from it. It does not decide who may
// call (auth does) nor keep keys anywhere but the store.
package caserver

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/auth"
	"github.com/minsw/minsw/manager/ca"
	"github.com/minsw/minsw/manager/jointoken"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Server issues certificates and rotates the root. Its Run is the leader
// loop that finishes a root rotation.
type Server struct {
	st    *store.Store
	clock func() time.Time
	log   *slog.Logger
}

// New returns a CA server over the manager's store; clock is the
// certificates' validity clock (nil: time.Now).
func New(st *store.Store, clock func() time.Time, log *slog.Logger) *Server {
	if clock == nil {
		clock = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Server{st: st, clock: clock, log: log.With("component", "caserver")}
}

// signerOf is the root that signs certificates now: during a rotation the
// new root, whose certificates are presented with the cross-signed root.
func signerOf(c *api.Cluster) (*ca.RootCA, error) {
	if r := c.GetRootRotation(); r != nil {
		root, err := ca.ParseRootCA(r.GetCaCert(), r.GetCaKey())
		if err != nil {
			return nil, err
		}
		cross, err := x509.ParseCertificate(r.GetCrossSignedCaCert())
		if err != nil {
			return nil, err
		}
		root.Intermediates = []*x509.Certificate{cross}
		return root, nil
	}
	if len(c.GetRootCaCert()) == 0 {
		return nil, errdefs.FailedPrecondition("the swarm has no root CA")
	}
	return ca.ParseRootCA(c.GetRootCaCert(), c.GetRootCaKey())
}

// TrustBundle is the PEM of the roots every node must trust now.
func TrustBundle(c *api.Cluster) []byte {
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.GetRootCaCert()})
	if r := c.GetRootRotation(); r != nil {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.GetCaCert()})...)
	}
	return out
}

func certExpiry(c *api.Cluster) time.Duration {
	if d := c.GetSpec().GetCertExpiry().AsDuration(); d > 0 {
		return d
	}
	return ca.DefaultCertExpiry
}

func roleName(r api.NodeRole) string {
	if r == api.NodeRole_NODE_ROLE_MANAGER {
		return ca.ManagerRole
	}
	return ca.WorkerRole
}

// Issue signs a certificate for csrPEM naming nodeID with role, and records
// its leaf on the node object n (the caller writes n).
func (m *Server) Issue(c *api.Cluster, n *api.Node, csrPEM []byte, role api.NodeRole) ([]byte, error) {
	csr, err := ca.ParseCSR(csrPEM)
	if err != nil {
		return nil, errdefs.InvalidArgument("%v", err)
	}
	signer, err := signerOf(c)
	if err != nil {
		return nil, err
	}
	chain, err := signer.Issue(csr, ca.Identity{NodeID: n.GetId(), Role: roleName(role), ClusterID: c.GetId()}, certExpiry(c), m.clock())
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(chain)
	n.Certificate = pem.EncodeToMemory(b)
	return chain, nil
}

// rootWait bounds how long GetRootCA waits for a manager's store to
// receive the root.
const rootWait = 10 * time.Second

// GetRootCA serves the root to anyone, from this manager's store: a
// joining node checks it against its token's digest. A manager that has
// just joined (or restarted) may not have the cluster object yet: a node
// joining through it right away waits for the root to arrive instead of
// failing with "no root CA yet" (seen as a 1-in-7 failure of managers
// joined one through the other).
func (s *Server) GetRootCA(ctx context.Context, _ *api.GetRootCARequest) (*api.GetRootCAResponse, error) {
	c, err := s.waitRoot(ctx, rootWait)
	if err != nil {
		return nil, err
	}
	resp := &api.GetRootCAResponse{RootCaCert: c.GetRootCaCert(), TrustBundle: TrustBundle(c), SigningRootDigest: jointoken.Digest(c.GetRootCaCert())}
	if r := c.GetRootRotation(); r != nil {
		resp.Rotating, resp.SigningRootDigest = true, jointoken.Digest(r.GetCaCert())
	}
	return resp, nil
}

// RenewCertificate issues the calling node a new certificate: its ID from
// the certificate it called with, its role from the store.
func (s *Server) RenewCertificate(ctx context.Context, r *api.RenewCertificateRequest) (*api.RenewCertificateResponse, error) {
	id, ok := auth.CallerIdentity(ctx)
	if !ok {
		return nil, errdefs.Unauthenticated("renewing a certificate needs the current one")
	}
	var resp *api.RenewCertificateResponse
	err := s.updateRetry(ctx, func(tx *store.Tx) error {
		c, n := tx.Cluster(), tx.Node(id.NodeID)
		if c == nil || n == nil {
			return errdefs.PermissionDenied("permission denied: node %s is not part of this swarm", id.NodeID)
		}
		nn := proto.Clone(n).(*api.Node)
		chain, err := s.Issue(c, nn, r.GetCsr(), n.GetSpec().GetDesiredRole())
		if err != nil {
			return err
		}
		resp = &api.RenewCertificateResponse{Certificate: chain, TrustBundle: TrustBundle(c)}
		return tx.Update(nn)
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("certificate renewed", "node", id.NodeID)
	return resp, nil
}

// RotateRootCA starts a root rotation: a new root, cross-signed by the
// current one. Nodes renew onto it (their renewal loop sees the signing
// root change); Run completes it.
func (m *Server) RotateRootCA(ctx context.Context) (*api.Cluster, error) {
	var out *api.Cluster
	err := m.st.Update(ctx, func(tx *store.Tx) error {
		c := tx.Cluster()
		if c == nil {
			return errdefs.FailedPrecondition("this node is not part of a swarm")
		}
		old, err := ca.ParseRootCA(c.GetRootCaCert(), c.GetRootCaKey())
		if err != nil {
			return err
		}
		now := m.clock()
		nu, err := ca.NewRootCA(c.GetId(), now)
		if err != nil {
			return err
		}
		cross, err := old.CrossSign(nu.Cert, now)
		if err != nil {
			return err
		}
		key, err := nu.KeyDER()
		if err != nil {
			return err
		}
		nc := proto.Clone(c).(*api.Cluster)
		nc.RootRotation = &api.RootRotation{CaCert: nu.Cert.Raw, CaKey: key, CrossSignedCaCert: cross.Raw}
		out = nc
		return tx.Update(nc)
	})
	if err != nil {
		return nil, err
	}
	m.log.Info("root CA rotation started")
	return out, nil
}

// Run, on the leader, ends a rotation once every node holds a certificate
// from the new root: the new root becomes the root and the join tokens
// change with its digest (old tokens fail from then on).
func (m *Server) Run(ctx context.Context) error {
	w := m.st.Watch(store.ForTables(store.TableNode, store.TableCluster))
	defer w.Close()
	for {
		if err := m.finishRootRotationOnce(ctx); err != nil {
			m.log.Warn("root rotation", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.C:
			w.Drain()
		}
	}
}

func (m *Server) finishRootRotationOnce(ctx context.Context) error {
	var (
		c     *api.Cluster
		nodes []*api.Node
	)
	m.st.View(func(tx store.ReadTx) { c, nodes = tx.Cluster(), tx.Nodes() })
	if c.GetRootRotation() == nil {
		return nil
	}
	nu, err := x509.ParseCertificate(c.GetRootRotation().GetCaCert())
	if err != nil {
		return err
	}
	for _, n := range nodes {
		b, _ := pem.Decode(n.GetCertificate())
		if b == nil {
			return nil // this node has not been issued one here yet
		}
		leaf, err := x509.ParseCertificate(b.Bytes)
		if err != nil || leaf.CheckSignatureFrom(nu) != nil {
			return nil // still on the old root
		}
	}
	return m.st.Update(ctx, func(tx *store.Tx) error {
		c := tx.Cluster()
		r := c.GetRootRotation()
		if r == nil {
			return nil
		}
		nc := proto.Clone(c).(*api.Cluster)
		nc.RootCaCert, nc.RootCaKey, nc.RootRotation = r.GetCaCert(), r.GetCaKey(), nil
		wt, err := jointoken.New(nc.GetRootCaCert(), nil)
		if err != nil {
			return err
		}
		mt, err := jointoken.New(nc.GetRootCaCert(), nil)
		if err != nil {
			return err
		}
		nc.JoinTokens = &api.JoinTokens{Worker: wt.String(), Manager: mt.String()}
		m.log.Info("root CA rotation finished: every node holds a certificate from the new root")
		return tx.Update(nc)
	})
}

// updateRetry is st.Update retried when a concurrent write to the same
// objects won (the dispatcher and the role reconciler write nodes too).
func (m *Server) updateRetry(ctx context.Context, fn func(tx *store.Tx) error) error {
	var err error
	for range 5 {
		if err = m.st.Update(ctx, fn); !errdefs.Is(err, errdefs.KindConflict) {
			return err
		}
	}
	return err
}

// waitRoot returns the cluster object once this manager's store holds its
// root, waiting at most max (and no longer than ctx).
func (s *Server) waitRoot(ctx context.Context, max time.Duration) (*api.Cluster, error) {
	root := func() *api.Cluster {
		var c *api.Cluster
		s.st.View(func(tx store.ReadTx) { c = tx.Cluster() })
		if c == nil || len(c.GetRootCaCert()) == 0 {
			return nil
		}
		return c
	}
	if c := root(); c != nil {
		return c, nil
	}
	w := s.st.Watch(store.ForTables(store.TableCluster))
	defer w.Close()
	timer := time.NewTimer(max)
	defer timer.Stop()
	for {
		if c := root(); c != nil { // also after the watch began: no event is missed
			return c, nil
		}
		select {
		case <-w.C:
			w.Drain()
		case <-timer.C:
			return nil, errdefs.Unavailable("this manager has no root CA yet: it has not caught up with the swarm; try again, or join through another manager")
		case <-ctx.Done():
			return nil, errdefs.Unavailable("this manager has no root CA yet: it has not caught up with the swarm; try again, or join through another manager")
		}
	}
}
