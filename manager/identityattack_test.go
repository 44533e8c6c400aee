package manager

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"

	"github.com/minsw/minsw/client/join"
	"github.com/minsw/minsw/internal/eventually"
	"github.com/minsw/minsw/manager/ca"
	"github.com/minsw/minsw/manager/identity"
	"github.com/minsw/minsw/manager/raftnode"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

func nodeCount(m *Manager) int {
	var n int
	m.st.View(func(tx store.ReadTx) { n = len(tx.Nodes()) })
	return n
}

// forge makes credentials whose certificate the swarm's root signed with
// any subject and names, as a CA that let a joiner choose would have (or
// as anyone holding the root key could).
func forge(t *testing.T, root *ca.RootCA, cn, role, cluster string, dns ...string) *ca.Credentials {
	t.Helper()
	keyPEM, certPEM := forgePEM(t, root, cn, role, cluster, dns...)
	creds := ca.NewCredentials(nil)
	if err := creds.SetRoots(ca.EncodeCertificates(root.Cert)); err != nil {
		t.Fatal(err)
	}
	if err := creds.Set(keyPEM, certPEM); err != nil {
		t.Fatal(err)
	}
	return creds
}

// forgeTLS is forge for subjects Credentials would not even load: a raw
// TLS client configuration presenting the certificate.
func forgeTLS(t *testing.T, root *ca.RootCA, cn, role, cluster string) *tls.Config {
	t.Helper()
	keyPEM, certPEM := forgePEM(t, root, cn, role, cluster)
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{pair}, InsecureSkipVerify: true}
}

func forgePEM(t *testing.T, root *ca.RootCA, cn, role, cluster string, dns ...string) (keyPEM, certPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn, OrganizationalUnit: []string{role}, Organization: []string{cluster}},
		DNSNames:     dns,
		NotBefore:    time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root.Cert, &key.PublicKey, root.Key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// tlsPair is creds' key and certificate as a tls.Certificate.
func tlsPair(t *testing.T, creds *ca.Credentials) tls.Certificate {
	t.Helper()
	key, chain, _ := creds.PEM()
	pair, err := tls.X509KeyPair(chain, key)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// TestJoinerChosenIdentityAttacks: a joiner may not name itself; a
// certificate whose name says swarm-manager is not a manager's; node IDs
// that could mean something elsewhere are refused.
func TestJoinerChosenIdentityAttacks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m, c := oneManager(t)
	root, _ := testRoots.Load(m)
	anon := ca.NewCredentials(nil)
	if err := anon.SetRoots(ca.EncodeCertificates(root.(*ca.RootCA).Cert)); err != nil {
		t.Fatal(err)
	}
	mem := api.NewMembershipClient(dialAs(t, m.cfg.AdvertiseAddr, anon))

	t.Run("join naming its own node ID", func(t *testing.T) {
		at := newAttack(t, "join with the worker token asking for node_id swarm-manager / an existing manager's ID")
		before := storeDigest(m)
		for _, id := range []string{ca.ManagerServerName, m.cfg.NodeID, identity.NewID()} {
			for _, tok := range []string{c.JoinTokens.Worker, c.JoinTokens.Manager} {
				_, err := mem.JoinCluster(ctx, &api.JoinClusterRequest{Token: tok, NodeId: id, Addr: "127.0.0.1:1", Csr: csr(t),
					Description: &api.NodeDescription{Hostname: "evil-" + identity.NewID()[:6]}})
				at.try(err, code(codes.InvalidArgument, "may not choose its node ID"))
			}
		}
		at.done()
		if after := storeDigest(m); after != before {
			t.Fatalf("store changed:\nbefore %s\nafter  %s", before, after)
		}
	})

	t.Run("IDs the CA picks", func(t *testing.T) {
		_, id := joinNode(t, ctx, m, c.JoinTokens.Worker)
		if len(id) != identity.IDLength || ca.ValidNodeID(id) != nil {
			t.Fatalf("CA chose node ID %q", id)
		}
	})

	// A certificate the root signed for a worker named swarm-manager (what
	// the CA issued when it honoured node_id) is not taken as a manager's
	// by a joining node: the fake manager learns no token.
	t.Run("fake manager with a worker certificate named swarm-manager", func(t *testing.T) {
		at := newAttack(t, "fake manager (worker cert named swarm-manager) captures a join token")
		fake := forge(t, root.(*ca.RootCA), ca.ManagerServerName, ca.WorkerRole, c.Id, ca.WorkerRole, ca.ManagerServerName)
		addr, captured := fakeManager(t, fake, c.RootCaCert)
		for _, tok := range []string{c.JoinTokens.Worker, c.JoinTokens.Manager} {
			rootPEM, err := join.FetchRootCA(ctx, addr, tok)
			if err != nil {
				t.Fatalf("the fake serves the real root: %v", err)
			}
			creds := ca.NewCredentials(nil)
			if err := creds.SetRoots(rootPEM); err != nil {
				t.Fatal(err)
			}
			_, err = join.JoinCluster(ctx, addr, creds, &api.JoinClusterRequest{Token: tok, Addr: "127.0.0.1:1"})
			at.try(err, contains("is not a manager"))
		}
		at.done()
		if n := captured.Load(); n != 0 {
			t.Fatalf("the fake manager captured %d join tokens", n)
		}
	})

	t.Run("node IDs with path characters, commas or too long", func(t *testing.T) {
		at := newAttack(t, "root-signed certificates naming ../x, a,b,c, or 65+ characters")
		before := storeDigest(m)
		for _, id := range []string{"../../etc/passwd", "a,swarm-manager," + c.Id, strings.Repeat("x", 65)} {
			for _, role := range []string{ca.WorkerRole, ca.ManagerRole} {
				cfg := forgeTLS(t, root.(*ca.RootCA), id, role, c.Id)
				conn, err := grpc.NewClient(m.cfg.AdvertiseAddr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
				if err != nil {
					t.Fatal(err)
				}
				_, err = api.NewDispatcherClient(conn).Heartbeat(ctx, &api.HeartbeatRequest{NodeId: id})
				conn.Close()
				at.try(err, code(codes.Unavailable, ""))
				at.try(raftHandshakeTLS(m.cfg.AdvertiseAddr, cfg), contains("bad certificate"))
			}
		}
		at.done()
		if after := storeDigest(m); after != before {
			t.Fatalf("store changed:\nbefore %s\nafter  %s", before, after)
		}
	})
}

// fakeManager serves Membership at a new address with creds' certificate:
// the real (public) root on GetRootCA, and it counts the join tokens it is
// sent.
func fakeManager(t *testing.T, creds *ca.Credentials, rootDER []byte) (string, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	captured := &atomic.Int64{}
	s := grpc.NewServer(grpc.Creds(credentials.NewTLS(creds.ServerTLS(ca.ClientCertIfGiven, nil, "h2"))))
	api.RegisterMembershipServer(s, &capturingMembership{root: rootDER, captured: captured})
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	return l.Addr().String(), captured
}

type capturingMembership struct {
	api.UnimplementedMembershipServer
	root     []byte
	captured *atomic.Int64
}

func (f *capturingMembership) GetRootCA(context.Context, *api.GetRootCARequest) (*api.GetRootCAResponse, error) {
	return &api.GetRootCAResponse{RootCaCert: f.root}, nil
}

func (f *capturingMembership) JoinCluster(_ context.Context, r *api.JoinClusterRequest) (*api.JoinClusterResponse, error) {
	if r.GetToken() != "" {
		f.captured.Add(1)
	}
	return nil, errBadFake
}

var errBadFake = errors.New("this fake manager takes tokens, it does not issue certificates")

// TestFakeManagerAtAStoppedManagersAddress: a manager stops; a stranger
// listens at its address with a root-signed certificate (a worker's named
// swarm-manager, then a manager certificate of an ID not in raft). The
// leader keeps dialling the address for raft, and never completes a
// handshake with it: no vote request or log entry reaches it.
func TestFakeManagerAtAStoppedManagersAddress(t *testing.T) {
	ms := threeManagers(t)
	var leader, victim *Manager
	for _, m := range ms {
		if m.IsLeader() {
			leader = m
		} else if victim == nil && m.cfg.NodeID != "node1" {
			victim = m
		}
	}
	if leader == nil || victim == nil {
		t.Fatal("no leader or follower")
	}
	root, _ := testRoots.Load(ms[0])
	var c *api.Cluster
	leader.st.View(func(tx store.ReadTx) { c = tx.Cluster() })
	addr := victim.cfg.AdvertiseAddr
	victim.Stop()
	for _, tt := range []struct {
		name  string
		creds *ca.Credentials
	}{
		{"worker certificate named swarm-manager", forge(t, root.(*ca.RootCA), ca.ManagerServerName, ca.WorkerRole, c.GetId(), ca.WorkerRole, ca.ManagerServerName)},
		{"manager certificate of a node that is no raft member", forge(t, root.(*ca.RootCA), identity.NewID(), ca.ManagerRole, c.GetId())},
	} {
		t.Run(tt.name, func(t *testing.T) {
			at := newAttack(t, "fake manager at a stopped manager's address: "+tt.name)
			tried, completed, seen := fakeRaftPeer(t, addr, tt.creds, 30*time.Second)
			if tried == 0 {
				t.Fatal("the leader never dialled the stopped manager's address")
			}
			for range tried - completed {
				at.try(errors.New("the leader refused the fake's certificate: "+seen), func(error) bool { return true })
			}
			for range completed {
				at.try(nil, func(error) bool { return true })
			}
			at.done()
		})
	}
}

// fakeRaftPeer listens at addr for d as a raft peer presenting creds and
// counts the raft connections it was offered and the TLS handshakes that
// the dialler completed with it.
func fakeRaftPeer(t *testing.T, addr string, creds *ca.Credentials, d time.Duration) (tried, completed int, seen string) {
	t.Helper()
	var l net.Listener
	eventually.Succeeds(t, eventually.DefaultWithin, "taking over "+addr, func() (err error) {
		l, err = net.Listen("tcp", addr)
		return err
	})
	defer l.Close()
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{tlsPair(t, creds)}, ClientAuth: tls.RequestClientCert}
	var nTried, nDone, nEnded atomic.Int64
	var lastErr atomic.Value
	lastErr.Store("")
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(2 * time.Second))
				b := make([]byte, 1)
				if _, err := c.Read(b); err != nil || b[0] != raftnode.RaftMagic {
					return
				}
				nTried.Add(1)
				defer nEnded.Add(1)
				tc := tls.Server(c, cfg)
				if err := tc.Handshake(); err != nil {
					lastErr.Store(err.Error())
					return
				}
				// TLS 1.3: the client's verdict on our certificate comes as
				// an alert after its Finished; a read shows it.
				if _, err := tc.Read(make([]byte, 1)); err != nil && strings.Contains(err.Error(), "bad certificate") {
					lastErr.Store(err.Error())
					return
				}
				nDone.Add(1)
			}()
		}
	}()
	// Raft backs off from a failing peer (up to tens of seconds): wait for
	// a few attempts, or d at most.
	deadline := time.Now().Add(d)
	eventually.Within(t, d+eventually.DefaultWithin, "a few raft connection attempts, or the time given", func() bool {
		return nTried.Load() >= 3 || time.Now().After(deadline)
	})
	eventually.True(t, "the last handshake finished", func() bool { return nEnded.Load() == nTried.Load() })
	return int(nTried.Load()), int(nDone.Load()), lastErr.Load().(string)
}

// TestRemovedIdentityNeverReturns: after node rm --force, a join asking for
// the removed ID is refused, no later join is given it, and the removed
// node's certificate is refused on new connections (gRPC, raft) and for
// renewal.
func TestRemovedIdentityNeverReturns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m, c := oneManager(t)
	gone, goneID := joinNode(t, ctx, m, c.JoinTokens.Worker)
	if _, err := api.NewControlClient(dial(t, m)).RemoveNode(ctx, &api.RemoveNodeRequest{Ref: goneID, Force: true}); err != nil {
		t.Fatal(err)
	}
	before := storeDigest(m)
	anon := ca.NewCredentials(nil)
	_, _, roots := gone.PEM()
	if err := anon.SetRoots(roots); err != nil {
		t.Fatal(err)
	}
	mem := api.NewMembershipClient(dialAs(t, m.cfg.AdvertiseAddr, anon))
	at := newAttack(t, "revive a removed node's identity (join asking for its ID, its old certificate)")
	for _, tok := range []string{c.JoinTokens.Worker, c.JoinTokens.Manager} {
		_, err := mem.JoinCluster(ctx, &api.JoinClusterRequest{Token: tok, NodeId: goneID, Addr: "127.0.0.1:1", Csr: csr(t),
			Description: &api.NodeDescription{Hostname: "revived-" + identity.NewID()[:6]}})
		at.try(err, code(codes.InvalidArgument, "may not choose its node ID"))
	}
	// Its certificate, on a new connection: refused at the handshake.
	_, err := api.NewDispatcherClient(dialAs(t, m.cfg.AdvertiseAddr, gone)).Heartbeat(ctx, &api.HeartbeatRequest{NodeId: goneID})
	at.try(err, code(codes.Unavailable, ""))
	at.try(join.RenewCertificate(ctx, dialAs(t, m.cfg.AdvertiseAddr, gone), gone), code(codes.Unavailable, ""))
	at.try(raftHandshake(m.cfg.AdvertiseAddr, gone), contains("bad certificate"))
	at.done()
	if after := storeDigest(m); after != before {
		t.Fatalf("store changed:\nbefore %s\nafter  %s", before, after)
	}
	var cl *api.Cluster
	m.st.View(func(tx store.ReadTx) { cl = tx.Cluster() })
	if len(cl.GetRemovedNodeIds()) != 1 || cl.GetRemovedNodeIds()[0] != goneID {
		t.Fatalf("revocation list: %v", cl.GetRemovedNodeIds())
	}
	for range 5 {
		if _, id := joinNode(t, ctx, m, c.JoinTokens.Worker); id == goneID {
			t.Fatal("a new node was given the removed node's ID")
		}
	}
}
