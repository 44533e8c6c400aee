package manager

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/minsw/minsw/client/join"
	"github.com/minsw/minsw/internal/eventually"
	"github.com/minsw/minsw/manager/ca"
	"github.com/minsw/minsw/manager/identity"
	"github.com/minsw/minsw/manager/jointoken"
	"github.com/minsw/minsw/manager/keymanager"
	"github.com/minsw/minsw/manager/raftnode"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// attack records one row of the closing note's table: each attempt must be
// refused, and the error a user sees is logged.
type attack struct {
	t                 *testing.T
	name              string
	attempts, refused int
	lastErr           error
}

func newAttack(t *testing.T, name string) *attack { return &attack{t: t, name: name} }

// try counts an attempt; refused says whether err is the refusal wanted.
func (a *attack) try(err error, want func(error) bool) {
	a.t.Helper()
	a.attempts++
	if err != nil && want(err) {
		a.refused++
		a.lastErr = err
		return
	}
	a.t.Errorf("%s: attempt %d not refused as wanted: %v", a.name, a.attempts, err)
}

func (a *attack) done() {
	a.t.Helper()
	msg := "<none>"
	if a.lastErr != nil {
		msg = a.lastErr.Error()
	}
	a.t.Logf("ATTACK | %s | %d | %d | %s", a.name, a.attempts, a.refused, msg)
	if a.refused != a.attempts {
		a.t.Errorf("%s: %d of %d refused", a.name, a.refused, a.attempts)
	}
}

func code(c codes.Code, contains string) func(error) bool {
	return func(err error) bool {
		return status.Code(err) == c && strings.Contains(err.Error(), contains)
	}
}

func contains(s string) func(error) bool {
	return func(err error) bool { return strings.Contains(err.Error(), s) }
}

// oneManager is a one-manager swarm.
func oneManager(t *testing.T) (*Manager, *api.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m := startManager(t, "mgr-"+strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), true)
	if err := m.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := initCluster(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	return m, c
}

// joinNode joins a node through m as swarm join does and returns its
// credentials and ID.
func joinNode(t *testing.T, ctx context.Context, m *Manager, token string) (*ca.Credentials, string) {
	t.Helper()
	creds := ca.NewCredentials(nil)
	root, err := join.FetchRootCA(ctx, m.cfg.AdvertiseAddr, token)
	if err != nil {
		t.Fatal(err)
	}
	if err := creds.SetRoots(root); err != nil {
		t.Fatal(err)
	}
	resp, err := join.JoinCluster(ctx, m.cfg.AdvertiseAddr, creds, &api.JoinClusterRequest{Token: token, Addr: "127.0.0.1:2377",
		Description: &api.NodeDescription{Hostname: "w-" + identity.NewID()[:8]}})
	if err != nil {
		t.Fatal(err)
	}
	return creds, resp.NodeId
}

func csr(t *testing.T) []byte {
	_, c, err := ca.NewKeyAndCSR()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestJoinTokenAttacks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, ca1 := oneManager(t)
	b, ca2 := oneManager(t)
	anon := ca.NewCredentials(nil)
	root, err := join.FetchRootCA(ctx, a.cfg.AdvertiseAddr, ca1.JoinTokens.Worker)
	if err != nil {
		t.Fatal(err)
	}
	if err := anon.SetRoots(root); err != nil {
		t.Fatal(err)
	}
	memA := api.NewMembershipClient(dialAs(t, a.cfg.AdvertiseAddr, anon))

	t.Run("wrong token", func(t *testing.T) {
		at := newAttack(t, "wrong token (garbage, wrong secret)")
		good := ca1.JoinTokens.Worker
		for _, tok := range []string{"hello", good[:len(good)-25] + strings.Repeat("z", 25), good[:len(good)-1] + "A", ""} {
			_, err := memA.JoinCluster(ctx, &api.JoinClusterRequest{Token: tok, Addr: "127.0.0.1:1", Csr: csr(t)})
			at.try(err, code(codes.InvalidArgument, "invalid join token"))
		}
		at.done()
	})
	t.Run("token for another cluster", func(t *testing.T) {
		at := newAttack(t, "token of another swarm")
		for _, tok := range []string{ca2.JoinTokens.Worker, ca2.JoinTokens.Manager} {
			// Sent to a's manager directly: refused by the digest check...
			_, err := memA.JoinCluster(ctx, &api.JoinClusterRequest{Token: tok, Addr: "127.0.0.1:1", Csr: csr(t)})
			at.try(err, code(codes.InvalidArgument, "made for another swarm"))
			// ...and by the joining node itself, before it sends anything.
			_, err = join.FetchRootCA(ctx, a.cfg.AdvertiseAddr, tok)
			at.try(err, contains("does not match the join token's digest"))
		}
		at.done()
	})
	t.Run("forged CA", func(t *testing.T) {
		at := newAttack(t, "man in the middle: forged CA")
		// An impostor answering at the manager's address with its own CA
		// (b plays the impostor for a's token).
		_, err := join.FetchRootCA(ctx, b.cfg.AdvertiseAddr, ca1.JoinTokens.Worker)
		at.try(err, contains("does not match the join token's digest"))
		// A cleverer impostor hands out a's (public) root but cannot prove
		// it holds a's manager certificate: the join's TLS refuses it.
		imp := impostor(t, ca1.RootCaCert)
		root, err := join.FetchRootCA(ctx, imp, ca1.JoinTokens.Worker)
		if err != nil {
			t.Fatalf("impostor with the real root: %v", err)
		}
		creds := ca.NewCredentials(nil)
		if err := creds.SetRoots(root); err != nil {
			t.Fatal(err)
		}
		_, err = join.JoinCluster(ctx, imp, creds, &api.JoinClusterRequest{Token: ca1.JoinTokens.Worker, Addr: "127.0.0.1:1"})
		at.try(err, contains("certificate signed by unknown authority"))
		at.done()
	})
	t.Run("old token after rotation", func(t *testing.T) {
		at := newAttack(t, "old token after join-token --rotate")
		ctl := api.NewControlClient(dial(t, a))
		old := ca1.JoinTokens
		cur, err := ctl.GetCluster(ctx, &api.GetClusterRequest{})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := ctl.UpdateCluster(ctx, &api.UpdateClusterRequest{Version: cur.Cluster.Meta.Version, RotateWorkerToken: true, RotateManagerToken: true})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Cluster.GetRootCaKey() != nil {
			t.Fatal("UpdateCluster answered with the CA key")
		}
		for _, tok := range []string{old.Worker, old.Manager} {
			_, err := memA.JoinCluster(ctx, &api.JoinClusterRequest{Token: tok, Addr: "127.0.0.1:1", Csr: csr(t)})
			at.try(err, code(codes.InvalidArgument, "was it rotated?"))
		}
		at.done()
		// The new ones work.
		joinNode(t, ctx, a, resp.Cluster.JoinTokens.Worker)
	})
}

// impostor serves Membership.GetRootCA with the real swarm's root but TLS
// with a certificate from its own CA.
func impostor(t *testing.T, realRootDER []byte) string {
	t.Helper()
	fake, fakeCreds, err := ca.Bootstrap("evil", "evil", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = fake
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(grpc.Creds(credentials.NewTLS(fakeCreds.ServerTLS(ca.ClientCertIfGiven, nil, "h2"))))
	api.RegisterMembershipServer(s, &fakeMembership{root: realRootDER})
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	return l.Addr().String()
}

type fakeMembership struct {
	api.UnimplementedMembershipServer
	root []byte
}

func (f *fakeMembership) GetRootCA(context.Context, *api.GetRootCARequest) (*api.GetRootCAResponse, error) {
	return &api.GetRootCAResponse{RootCaCert: f.root}, nil
}

func TestCertificateAttacks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, c := oneManager(t)
	worker, workerID := joinNode(t, ctx, m, c.JoinTokens.Worker)
	asWorker := dialAs(t, m.cfg.AdvertiseAddr, worker)

	t.Run("worker calling manager APIs", func(t *testing.T) {
		at := newAttack(t, "worker calls manager-only APIs")
		ctl := api.NewControlClient(asWorker)
		_, err := ctl.ListNodes(ctx, &api.ListNodesRequest{})
		at.try(err, code(codes.PermissionDenied, "is a worker"))
		_, err = ctl.CreateService(ctx, &api.CreateServiceRequest{Spec: service("evil")})
		at.try(err, code(codes.PermissionDenied, "is a worker"))
		_, err = ctl.UpdateCluster(ctx, &api.UpdateClusterRequest{RotateManagerToken: true})
		at.try(err, code(codes.PermissionDenied, "is a worker"))
		_, err = ctl.GetCluster(ctx, &api.GetClusterRequest{}) // would show the manager token
		at.try(err, code(codes.PermissionDenied, "is a worker"))
		_, err = api.NewMembershipClient(asWorker).JoinRaft(ctx, &api.JoinRaftRequest{NodeId: workerID, Addr: "127.0.0.1:1"})
		at.try(err, code(codes.PermissionDenied, "is a worker"))
		// Raft on the same port: a worker certificate is refused at the
		// handshake.
		at.try(raftHandshake(m.cfg.AdvertiseAddr, worker), contains("bad certificate"))
		at.done()
	})

	t.Run("worker impersonating another node", func(t *testing.T) {
		at := newAttack(t, "worker impersonates another node on the dispatcher")
		d := api.NewDispatcherClient(asWorker)
		st, err := d.Session(ctx, &api.SessionRequest{NodeId: m.cfg.NodeID})
		if err == nil {
			_, err = st.Recv()
		}
		at.try(err, code(codes.PermissionDenied, "may not act as node "+m.cfg.NodeID))
		_, err = d.Heartbeat(ctx, &api.HeartbeatRequest{NodeId: m.cfg.NodeID})
		at.try(err, code(codes.PermissionDenied, "may not act as node"))
		_, err = d.UpdateTaskStatus(ctx, &api.UpdateTaskStatusRequest{NodeId: m.cfg.NodeID})
		at.try(err, code(codes.PermissionDenied, "may not act as node"))
		at.done()
		// As itself it gets a session, and the swarm's gossip keys with it.
		st, err = d.Session(ctx, &api.SessionRequest{NodeId: workerID})
		if err != nil {
			t.Fatal(err)
		}
		msg, err := st.Recv()
		if err != nil {
			t.Fatalf("own session: %v", err)
		}
		if len(msg.GossipKeys) == 0 || len(msg.GossipKeys[0]) != keymanager.KeySize {
			t.Fatalf("session carried gossip keys %d", len(msg.GossipKeys))
		}
	})

	t.Run("client without a certificate", func(t *testing.T) {
		at := newAttack(t, "client without a certificate")
		anon := ca.NewCredentials(nil)
		_, _, roots := worker.PEM()
		if err := anon.SetRoots(roots); err != nil {
			t.Fatal(err)
		}
		conn := dialAs(t, m.cfg.AdvertiseAddr, anon)
		_, err := api.NewControlClient(conn).ListNodes(ctx, &api.ListNodesRequest{})
		at.try(err, code(codes.Unauthenticated, "needs a node certificate"))
		st, err := api.NewDispatcherClient(conn).Session(ctx, &api.SessionRequest{NodeId: workerID})
		if err == nil {
			_, err = st.Recv()
		}
		at.try(err, code(codes.Unauthenticated, "needs a node certificate"))
		_, err = api.NewMembershipClient(conn).RenewCertificate(ctx, &api.RenewCertificateRequest{Csr: csr(t)})
		at.try(err, code(codes.Unauthenticated, "needs a node certificate"))
		at.try(raftHandshake(m.cfg.AdvertiseAddr, anon), contains("certificate"))
		// A plaintext client gets nowhere either.
		plain, err := grpc.NewClient(m.cfg.AdvertiseAddr, grpc.WithTransportCredentials(insecureCreds()))
		if err != nil {
			t.Fatal(err)
		}
		defer plain.Close()
		sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = api.NewControlClient(plain).ListNodes(sctx, &api.ListNodesRequest{})
		scancel()
		at.try(err, func(err error) bool {
			return status.Code(err) == codes.Unavailable || status.Code(err) == codes.DeadlineExceeded
		})
		at.done()
	})

	t.Run("expired certificate", func(t *testing.T) {
		at := newAttack(t, "expired certificate")
		root, _ := testRoots.Load(m)
		expired := issueAt(t, root.(*ca.RootCA), workerID, ca.WorkerRole, c.Id, time.Now().Add(-2*ca.MinCertExpiry))
		conn := dialAs(t, m.cfg.AdvertiseAddr, expired)
		_, err := api.NewDispatcherClient(conn).Heartbeat(ctx, &api.HeartbeatRequest{NodeId: workerID})
		// gRPC reports the server's alert, or, when the server hung up
		// first, the broken connection: refused either way.
		at.try(err, func(err error) bool { return status.Code(err) == codes.Unavailable })
		expiredMgr := issueAt(t, root.(*ca.RootCA), m.cfg.NodeID, ca.ManagerRole, c.Id, time.Now().Add(-2*ca.MinCertExpiry))
		at.try(raftHandshake(m.cfg.AdvertiseAddr, expiredMgr), contains("expired certificate"))
		at.done()
	})

	t.Run("demoted manager", func(t *testing.T) {
		at := newAttack(t, "demoted manager keeps calling manager APIs")
		mgrCreds, mgrID := joinNode(t, ctx, m, c.JoinTokens.Manager)
		conn := dialAs(t, m.cfg.AdvertiseAddr, mgrCreds)
		ctl := api.NewControlClient(conn)
		if _, err := ctl.ListNodes(ctx, &api.ListNodesRequest{}); err != nil {
			t.Fatalf("manager before demotion: %v", err)
		}
		demote(t, ctx, m, mgrID)
		_, err := ctl.ListNodes(ctx, &api.ListNodesRequest{})
		at.try(err, code(codes.PermissionDenied, "was demoted"))
		// Its renewal gets it a worker certificate.
		if err := join.RenewCertificate(ctx, conn, mgrCreds); err != nil {
			t.Fatal(err)
		}
		if id, _ := mgrCreds.Identity(); id.Role != ca.WorkerRole {
			t.Fatalf("renewed as %+v", id)
		}
		_, err = api.NewControlClient(dialAs(t, m.cfg.AdvertiseAddr, mgrCreds)).ListNodes(ctx, &api.ListNodesRequest{})
		at.try(err, code(codes.PermissionDenied, "is a worker"))
		at.done()
	})

	t.Run("removed node", func(t *testing.T) {
		at := newAttack(t, "removed node (node rm) keeps its certificate")
		gone, goneID := joinNode(t, ctx, m, c.JoinTokens.Worker)
		conn := dialAs(t, m.cfg.AdvertiseAddr, gone)
		if err := join.RenewCertificate(ctx, conn, gone); err != nil {
			t.Fatalf("before removal: %v", err)
		}
		if _, err := api.NewControlClient(dial(t, m)).RemoveNode(ctx, &api.RemoveNodeRequest{Ref: goneID, Force: true}); err != nil {
			t.Fatal(err)
		}
		d := api.NewDispatcherClient(conn)
		_, err := d.Heartbeat(ctx, &api.HeartbeatRequest{NodeId: goneID})
		at.try(err, code(codes.PermissionDenied, "was removed from this swarm"))
		st, err := d.Session(ctx, &api.SessionRequest{NodeId: goneID})
		if err == nil {
			_, err = st.Recv()
		}
		at.try(err, code(codes.PermissionDenied, "was removed from this swarm"))
		at.try(join.RenewCertificate(ctx, conn, gone), code(codes.PermissionDenied, "was removed from this swarm"))
		at.done()
	})
}

// issueAt makes credentials whose certificate was issued at 'at' with the
// shortest expiry.
func issueAt(t *testing.T, root *ca.RootCA, nodeID, role, cluster string, at time.Time) *ca.Credentials {
	t.Helper()
	key, csrPEM, err := ca.NewKeyAndCSR()
	if err != nil {
		t.Fatal(err)
	}
	req, err := ca.ParseCSR(csrPEM)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := root.Issue(req, ca.Identity{NodeID: nodeID, Role: role, ClusterID: cluster}, ca.MinCertExpiry, at)
	if err != nil {
		t.Fatal(err)
	}
	// Installed while still valid (the clock says 'at'), then used now.
	var installed atomic.Bool
	creds := ca.NewCredentials(func() time.Time {
		if installed.Load() {
			return time.Now()
		}
		return at
	})
	if err := creds.SetRoots(ca.EncodeCertificates(root.Cert)); err != nil {
		t.Fatal(err)
	}
	if err := creds.Set(key, chain); err != nil {
		t.Fatal(err)
	}
	installed.Store(true)
	return creds
}

// raftHandshake opens a raft connection to addr as creds and reports why
// it was refused (nil: accepted).
func raftHandshake(addr string, creds *ca.Credentials) error {
	return raftHandshakeTLS(addr, creds.ClientTLS(ca.ManagerServerName))
}

// raftHandshakeTLS is raftHandshake with any client configuration.
func raftHandshakeTLS(addr string, cfg *tls.Config) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte{raftnode.RaftMagic}); err != nil {
		return err
	}
	tc := tls.Client(c, cfg)
	_ = tc.SetDeadline(time.Now().Add(3 * time.Second))
	if err := tc.Handshake(); err != nil {
		return err
	}
	// TLS 1.3: the server's verdict on the client certificate arrives after
	// the client's handshake; raft would send first, so read for it.
	_, err = tc.Read(make([]byte, 1))
	if err != nil && strings.Contains(err.Error(), "i/o timeout") {
		return nil
	}
	return err
}

// TestRootRotationWhileServing rotates the root CA of a three-manager swarm
// with a worker while a client keeps writing: every write must succeed,
// every node ends on the new root, and the old join tokens stop working.
func TestRootRotationWhileServing(t *testing.T) {
	ms := threeManagers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var leader *Manager
	for _, m := range ms {
		if m.IsLeader() {
			leader = m
		}
	}
	ctl := api.NewControlClient(dial(t, ms[1]))
	before, err := ctl.GetCluster(ctx, &api.GetClusterRequest{})
	if err != nil {
		t.Fatal(err)
	}
	worker, _ := joinNode(t, ctx, leader, before.Cluster.JoinTokens.Worker)

	// Writes through a follower, all along.
	var writes, failures atomic.Int64
	stop := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			spec := service("svc" + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + time.Now().Format("150405.000000"))
			spec.Name = strings.NewReplacer(".", "-").Replace(spec.Name)
			spec.Mode = &api.ServiceSpec_Replicated{Replicated: &api.ReplicatedService{Replicas: 0}}
			if _, err := ctl.CreateService(ctx, &api.CreateServiceRequest{Spec: spec}); err != nil {
				failures.Add(1)
				t.Logf("write failed during rotation: %v", err)
			} else {
				writes.Add(1)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()

	rot, err := ctl.RotateRootCA(ctx, &api.RotateRootCARequest{})
	if err != nil {
		t.Fatal(err)
	}
	if rot.Cluster.RootRotation == nil || rot.Cluster.RootRotation.CaKey != nil {
		t.Fatalf("rotation answer: %+v", rot.Cluster.RootRotation)
	}
	newRoot := rot.Cluster.RootRotation.CaCert
	// A write goes through while every node still holds the old root's
	// certificate.
	rotating := writes.Load()
	eventually.True(t, "a write once the rotation began", func() bool { return writes.Load() > rotating })
	// Each node's renewal loop: sees the signing root change, renews.
	nodes := []*ca.Credentials{worker}
	for _, m := range ms {
		nodes = append(nodes, m.cfg.Credentials)
	}
	for i, creds := range nodes {
		conn := dialAs(t, ms[i%3].cfg.AdvertiseAddr, creds)
		r, err := api.NewMembershipClient(conn).GetRootCA(ctx, &api.GetRootCARequest{})
		if err != nil {
			t.Fatal(err)
		}
		if !r.Rotating || r.SigningRootDigest != jointoken.Digest(newRoot) {
			t.Fatalf("GetRootCA during rotation: %+v", r)
		}
		if err := join.RenewCertificate(ctx, conn, creds); err != nil {
			t.Fatalf("renewal %d: %v", i, err)
		}
		// A write goes through between each node's renewal and the next.
		renewed := writes.Load()
		eventually.True(t, fmt.Sprintf("a write after renewal %d", i), func() bool { return writes.Load() > renewed })
	}
	// The leader finishes the rotation once all hold new certificates.
	var after *api.Cluster
	eventually.True(t, "the rotation finished", func() bool {
		c, err := ctl.GetCluster(ctx, &api.GetClusterRequest{})
		if err == nil && c.Cluster.RootRotation == nil && string(c.Cluster.RootCaCert) == string(newRoot) {
			after = c.Cluster
			return true
		}
		return false
	})
	// Nodes drop the old root.
	for _, creds := range nodes {
		if err := creds.SetRoots(ca.EncodeCertificates(mustParse(t, newRoot))); err != nil {
			t.Fatal(err)
		}
	}
	onOldAndNew := writes.Load()
	eventually.True(t, "writes going on with the new root only", func() bool { return writes.Load() >= onOldAndNew+5 })
	close(stop)
	<-writerDone
	// Every phase above waited for writes of its own; how many fit in
	// between is the machine's speed, not the rotation's correctness.
	if failures.Load() != 0 {
		t.Fatalf("during rotation: %d writes, %d failures", writes.Load(), failures.Load())
	}
	t.Logf("rotation: %d writes during it, none failed", writes.Load())
	if _, err := api.NewControlClient(dial(t, ms[2])).ListNodes(ctx, &api.ListNodesRequest{}); err != nil {
		t.Fatalf("manager on new root: %v", err)
	}
	at := newAttack(t, "token from before a root rotation")
	_, err = join.FetchRootCA(ctx, leader.cfg.AdvertiseAddr, before.Cluster.JoinTokens.Worker)
	at.try(err, contains("does not match the join token's digest"))
	at.done()
	joinNode(t, ctx, leader, after.JoinTokens.Worker)
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func insecureCreds() credentials.TransportCredentials { return insecure.NewCredentials() }

// demote is `node demote`, retried if the role reconciler wrote the node
// meanwhile.
func demote(t *testing.T, ctx context.Context, m *Manager, id string) {
	t.Helper()
	ctl := api.NewControlClient(dial(t, m))
	for i := 0; ; i++ {
		n, err := ctl.GetNode(ctx, &api.GetNodeRequest{Ref: id})
		if err != nil {
			t.Fatal(err)
		}
		spec := n.Node.Spec
		spec.DesiredRole = api.NodeRole_NODE_ROLE_WORKER
		_, err = ctl.UpdateNode(ctx, &api.UpdateNodeRequest{Ref: id, Version: n.Node.Meta.Version, Spec: spec})
		if err == nil {
			return
		}
		if status.Code(err) != codes.Aborted || i > 10 {
			t.Fatal(err)
		}
	}
}
