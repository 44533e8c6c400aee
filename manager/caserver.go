package manager

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/ca"
	"github.com/minsw/minsw/manager/controlapi"
	"github.com/minsw/minsw/manager/jointoken"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// gossipKeySize is an AES-256 key, as memberlist takes it.
const gossipKeySize = 32

// DefaultGossipKeyRotation is how often the leader makes a new gossip key
// (Swarm: 12 hours).
const DefaultGossipKeyRotation = 12 * time.Hour

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

// trustBundle is the PEM of the roots every node must trust now.
func trustBundle(c *api.Cluster) []byte {
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

// issue signs a certificate for csrPEM naming nodeID with role, and records
// its leaf on the node object n (the caller writes n).
func (m *Manager) issue(c *api.Cluster, n *api.Node, csrPEM []byte, role api.NodeRole) ([]byte, error) {
	csr, err := ca.ParseCSR(csrPEM)
	if err != nil {
		return nil, errdefs.InvalidArgument("%v", err)
	}
	signer, err := signerOf(c)
	if err != nil {
		return nil, err
	}
	chain, err := signer.Issue(csr, ca.Identity{NodeID: n.GetId(), Role: roleName(role), ClusterID: c.GetId()}, certExpiry(c), m.cfg.Clock())
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(chain)
	n.Certificate = pem.EncodeToMemory(b)
	return chain, nil
}

// GetRootCA serves the root to anyone, from this manager's store: a
// joining node checks it against its token's digest.
func (s *membership) GetRootCA(ctx context.Context, _ *api.GetRootCARequest) (*api.GetRootCAResponse, error) {
	var c *api.Cluster
	s.m.st.View(func(tx store.ReadTx) { c = tx.Cluster() })
	if c == nil || len(c.GetRootCaCert()) == 0 {
		return nil, errdefs.ToGRPC(errdefs.FailedPrecondition("this manager has no root CA yet"))
	}
	resp := &api.GetRootCAResponse{RootCaCert: c.GetRootCaCert(), TrustBundle: trustBundle(c), SigningRootDigest: jointoken.Digest(c.GetRootCaCert())}
	if r := c.GetRootRotation(); r != nil {
		resp.Rotating, resp.SigningRootDigest = true, jointoken.Digest(r.GetCaCert())
	}
	return resp, nil
}

// RenewCertificate issues the calling node a new certificate: its ID from
// the certificate it called with, its role from the store.
func (s *membership) RenewCertificate(ctx context.Context, r *api.RenewCertificateRequest) (*api.RenewCertificateResponse, error) {
	id, ok := callerIdentity(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "renewing a certificate needs the current one")
	}
	var resp *api.RenewCertificateResponse
	err := s.m.updateRetry(ctx, func(tx *store.Tx) error {
		c, n := tx.Cluster(), tx.Node(id.NodeID)
		if c == nil || n == nil {
			return status.Errorf(codes.PermissionDenied, "permission denied: node %s is not part of this swarm", id.NodeID)
		}
		nn := proto.Clone(n).(*api.Node)
		chain, err := s.m.issue(c, nn, r.GetCsr(), n.GetSpec().GetDesiredRole())
		if err != nil {
			return err
		}
		resp = &api.RenewCertificateResponse{Certificate: chain, TrustBundle: trustBundle(c)}
		return tx.Update(nn)
	})
	if err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	s.m.log.Info("certificate renewed", "node", id.NodeID)
	return resp, nil
}

// RotateRootCA starts a root rotation: a new root, cross-signed by the
// current one. Nodes renew onto it (their renewal loop sees the signing
// root change); finishRootRotation completes it.
func (m *Manager) RotateRootCA(ctx context.Context) (*api.Cluster, error) {
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
		now := m.cfg.Clock()
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

// finishRootRotation, on the leader, ends a rotation once every node holds
// a certificate from the new root: the new root becomes the root and the
// join tokens change with its digest (old tokens fail from then on).
func (m *Manager) finishRootRotation(ctx context.Context) error {
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

func (m *Manager) finishRootRotationOnce(ctx context.Context) error {
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

// newGossipKey makes a memberlist key.
func newGossipKey() ([]byte, error) {
	k := make([]byte, gossipKeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	return k, nil
}

// rotateGossipKeys, on the leader, puts a new primary gossip key in front
// of the cluster's keys every GossipKeyRotation, keeping the previous one so
// nodes that have not heard of the new key yet are still understood.
// Workers get the keys through their dispatcher session.
func (m *Manager) rotateGossipKeys(ctx context.Context) error {
	for {
		var c *api.Cluster
		m.st.View(func(tx store.ReadTx) { c = tx.Cluster() })
		wait := m.cfg.GossipKeyRotation
		if c != nil {
			made := time.Unix(0, c.GetGossipKeysRotatedUnix())
			if age := m.cfg.Clock().Sub(made); len(c.GetGossipKeys()) == 0 || age >= m.cfg.GossipKeyRotation {
				if err := m.RotateGossipKeys(ctx); err != nil {
					m.log.Warn("rotating gossip keys", "err", err)
					wait = 10 * time.Second
				}
			} else {
				wait = m.cfg.GossipKeyRotation - age
			}
		} else {
			wait = time.Second
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// RotateGossipKeys makes a new primary gossip key now.
func (m *Manager) RotateGossipKeys(ctx context.Context) error {
	k, err := newGossipKey()
	if err != nil {
		return err
	}
	return m.st.Update(ctx, func(tx *store.Tx) error {
		c := tx.Cluster()
		if c == nil {
			return errdefs.FailedPrecondition("this node is not part of a swarm")
		}
		nc := proto.Clone(c).(*api.Cluster)
		keys := [][]byte{k}
		if len(c.GetGossipKeys()) > 0 {
			keys = append(keys, c.GetGossipKeys()[0])
		}
		nc.GossipKeys, nc.GossipKeysRotatedUnix = keys, m.cfg.Clock().UnixNano()
		return tx.Update(nc)
	})
}

// controlServer is the Control API: controlapi's, plus the calls that need
// the CA.
type controlServer struct {
	*controlapi.Server
	m *Manager
}

func (s controlServer) RotateRootCA(ctx context.Context, _ *api.RotateRootCARequest) (*api.RotateRootCAResponse, error) {
	c, err := s.m.RotateRootCA(ctx)
	if err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &api.RotateRootCAResponse{Cluster: redactCluster(c)}, nil
}

// redactCluster drops the CA keys and the unlock key from a cluster object leaving the
// manager (API answers).
func redactCluster(c *api.Cluster) *api.Cluster {
	if c == nil {
		return nil
	}
	nc := proto.Clone(c).(*api.Cluster)
	nc.RootCaKey, nc.UnlockKey = nil, ""
	if r := nc.GetRootRotation(); r != nil {
		r.CaKey = nil
	}
	return nc
}

func (s controlServer) GetCluster(ctx context.Context, r *api.GetClusterRequest) (*api.GetClusterResponse, error) {
	resp, err := s.Server.GetCluster(ctx, r)
	if err != nil {
		return nil, err
	}
	return &api.GetClusterResponse{Cluster: redactCluster(resp.GetCluster())}, nil
}

func (s controlServer) UpdateCluster(ctx context.Context, r *api.UpdateClusterRequest) (*api.UpdateClusterResponse, error) {
	if d := r.GetSpec().GetCertExpiry(); d != nil && d.AsDuration() < ca.MinCertExpiry {
		return nil, status.Errorf(codes.InvalidArgument, "certificate expiry %s is too short: at least %s", d.AsDuration(), ca.MinCertExpiry)
	}
	resp, err := s.Server.UpdateCluster(ctx, r)
	if err != nil {
		return nil, err
	}
	return &api.UpdateClusterResponse{Cluster: redactCluster(resp.GetCluster())}, nil
}

// updateRetry is st.Update retried when a concurrent write to the same
// objects won (the dispatcher and the role reconciler write nodes too).
func (m *Manager) updateRetry(ctx context.Context, fn func(tx *store.Tx) error) error {
	var err error
	for range 5 {
		if err = m.st.Update(ctx, fn); !errdefs.Is(err, errdefs.KindConflict) {
			return err
		}
	}
	return err
}
