package ca

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func mustRoot(t *testing.T, cluster string) *RootCA {
	t.Helper()
	r, err := NewRootCA(cluster, t0.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// node makes credentials for a node of root's cluster, trusting trust.
func node(t *testing.T, root *RootCA, id, role string, expiry time.Duration, at time.Time, clock func() time.Time, trust ...*x509.Certificate) *Credentials {
	t.Helper()
	key, csrPEM, err := NewKeyAndCSR()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := ParseCSR(csrPEM)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := root.Issue(csr, Identity{NodeID: id, Role: role, ClusterID: root.Cert.Subject.Organization[0]}, expiry, at)
	if err != nil {
		t.Fatal(err)
	}
	if len(trust) == 0 {
		trust = []*x509.Certificate{root.Cert}
	}
	c := NewCredentials(clock)
	if err := c.SetRoots(EncodeCertificates(trust...)); err != nil {
		t.Fatal(err)
	}
	if err := c.set(key, chain, false); err != nil {
		t.Fatal(err)
	}
	return c
}

func fixed(at time.Time) func() time.Time { return func() time.Time { return at } }

// handshake runs one TLS handshake over loopback TCP and returns the
// client's and the server's errors and the identity the server saw.
func handshake(t *testing.T, server *tls.Config, client *tls.Config) (clientErr, serverErr error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		tc := tls.Server(c, server)
		_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
		err = tc.Handshake()
		if err == nil {
			// TLS 1.3 client certificates are checked after the client's
			// handshake returns: read to see the verdict arrive.
			_, _ = tc.Write([]byte("ok"))
		}
		done <- err
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tc := tls.Client(c, client)
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	clientErr = tc.Handshake()
	if clientErr == nil {
		_, clientErr = io.ReadFull(tc, make([]byte, 2))
	}
	return clientErr, <-done
}

func TestIssuedCertificateCarriesTheManagersChoiceNotTheCSRs(t *testing.T) {
	root := mustRoot(t, "cluster1")
	c := node(t, root, "node1", WorkerRole, 0, t0, fixed(t0.Add(time.Hour)))
	id, err := c.Identity()
	if err != nil {
		t.Fatal(err)
	}
	if id != (Identity{NodeID: "node1", Role: WorkerRole, ClusterID: "cluster1"}) {
		t.Fatalf("identity %+v", id)
	}
	leaf := c.Leaf()
	if got := leaf.NotAfter.Sub(t0); got != DefaultCertExpiry {
		t.Fatalf("default expiry %v", got)
	}
	if leaf.PublicKeyAlgorithm != x509.ECDSA || leaf.IsCA {
		t.Fatalf("leaf key %v CA %v", leaf.PublicKeyAlgorithm, leaf.IsCA)
	}
}

func TestMutualTLS(t *testing.T) {
	now := t0.Add(time.Hour)
	root := mustRoot(t, "cluster1")
	mgr := node(t, root, "mgr", ManagerRole, 0, t0, fixed(now))
	wrk := node(t, root, "wrk", WorkerRole, 0, t0, fixed(now))
	other := mustRoot(t, "cluster2")
	stranger := node(t, other, "x", ManagerRole, 0, t0, fixed(now))
	expired := node(t, root, "old", WorkerRole, MinCertExpiry, t0.Add(-2*time.Hour), fixed(now))
	// A worker that got the CA to write "swarm-manager" as its node ID
	// (and so as a name in its certificate) is still a worker.
	namedManager := node(t, root, ManagerServerName, WorkerRole, 0, t0, fixed(now))
	// A client that knows the current managers refuses a manager
	// certificate of a node that is no longer one.
	knowing := node(t, root, "wrk2", WorkerRole, 0, t0, fixed(now))
	knowing.SetManagerCheck(func(id Identity) error {
		if id.NodeID != "mgr2" {
			return errors.New("node " + id.NodeID + " is not a current manager")
		}
		return nil
	})

	tests := []struct {
		name   string
		server *tls.Config
		client *tls.Config
		want   string // "" = accepted; else part of the error seen
	}{
		{"worker to manager", mgr.ServerTLS(RequireClientCert, nil), wrk.ClientTLS(ManagerServerName), ""},
		{"manager to manager", mgr.ServerTLS(RequireClientCert, nil), mgr.ClientTLS(ManagerServerName), ""},
		{"worker posing as manager server", wrk.ServerTLS(RequireClientCert, nil), mgr.ClientTLS(ManagerServerName), "node wrk is not a manager"},
		{"worker named swarm-manager posing as manager server", namedManager.ServerTLS(RequireClientCert, nil), mgr.ClientTLS(ManagerServerName), "is not a manager"},
		{"former manager posing to a client that knows the managers", mgr.ServerTLS(RequireClientCert, nil), knowing.ClientTLS(ManagerServerName), "node mgr is not a current manager"},
		{"client without certificate where one is required", mgr.ServerTLS(RequireClientCert, nil), NewCredentials(fixed(now)).withRoots(t, root).ClientTLS(ManagerServerName), "certificate required"},
		{"client without certificate where optional", mgr.ServerTLS(ClientCertIfGiven, nil), NewCredentials(fixed(now)).withRoots(t, root).ClientTLS(ManagerServerName), ""},
		{"another swarm's node as client", mgr.ServerTLS(ClientCertIfGiven, nil), stranger.withRoots(t, root).ClientTLS(ManagerServerName), "belongs to another swarm"},
		{"another swarm's manager as server", stranger.ServerTLS(ClientCertIfGiven, nil), wrk.ClientTLS(ManagerServerName), "unknown authority"},
		{"expired client certificate", mgr.ServerTLS(RequireClientCert, nil), expired.ClientTLS(ManagerServerName), "expired"},
		{"refused by the verify hook", mgr.ServerTLS(RequireClientCert, func(id Identity) error {
			return errors.New("node " + id.NodeID + " was removed")
		}), wrk.ClientTLS(ManagerServerName), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cerr, serr := handshake(t, tt.server, tt.client)
			if tt.name == "refused by the verify hook" {
				if serr == nil || !strings.Contains(serr.Error(), "was removed") {
					t.Fatalf("server: %v", serr)
				}
				return
			}
			if tt.want == "" {
				if cerr != nil || serr != nil {
					t.Fatalf("refused: client %v, server %v", cerr, serr)
				}
				return
			}
			if cerr == nil && serr == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(errString(cerr)+errString(serr), tt.want) {
				t.Fatalf("want %q; client %v, server %v", tt.want, cerr, serr)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error() + " | "
}

// withRoots sets c's trusted roots to r (the tests' shorthand).
func TestValidNodeID(t *testing.T) {
	for _, tt := range []struct {
		id string
		ok bool
	}{
		{"8x6k2m0q1z4t7w9r3p5n0b2c4", true},
		{"node1", true},
		{"mgr-test_x", true},
		{"", false},
		{"../../etc", false},
		{"a/b", false},
		{"a,swarm-manager,cluster", false},
		{"a.b", false},
		{"with space", false},
		{strings.Repeat("a", MaxNodeIDLength), true},
		{strings.Repeat("a", MaxNodeIDLength+1), false},
	} {
		if err := ValidNodeID(tt.id); (err == nil) != tt.ok {
			t.Errorf("ValidNodeID(%q) = %v, want ok=%v", tt.id, err, tt.ok)
		}
	}
	root := mustRoot(t, "cluster1")
	_, csrPEM, _ := NewKeyAndCSR()
	csr, _ := ParseCSR(csrPEM)
	if _, err := root.Issue(csr, Identity{NodeID: "a/../b", Role: WorkerRole, ClusterID: "cluster1"}, 0, time.Now()); err == nil {
		t.Fatal("issued a certificate for a node ID with path characters")
	}
}

func (c *Credentials) withRoots(t *testing.T, r *RootCA) *Credentials {
	t.Helper()
	if err := c.SetRoots(EncodeCertificates(r.Cert)); err != nil {
		t.Fatal(err)
	}
	return c
}

// A rotation: new certificates from the new root, presented with the
// cross-signed root, are accepted by nodes still trusting only the old root;
// nodes trusting both accept both; after the old root is dropped, the new
// certificates still verify.
func TestRootRotationCrossSigned(t *testing.T) {
	now := t0.Add(time.Hour)
	old := mustRoot(t, "c")
	nu := mustRoot(t, "c")
	cross, err := old.CrossSign(nu.Cert, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyCrossSigned(cross, nu.Cert, old.Cert); err != nil {
		t.Fatal(err)
	}
	if err := VerifyCrossSigned(cross, nu.Cert, mustRoot(t, "c").Cert); err == nil {
		t.Fatal("cross-signature accepted against a stranger root")
	}
	nu.Intermediates = []*x509.Certificate{cross}

	oldOnly := node(t, old, "a", ManagerRole, 0, t0, fixed(now))
	renewed := node(t, nu, "b", ManagerRole, 0, t0, fixed(now), old.Cert, nu.Cert)
	newOnly := node(t, nu, "c", WorkerRole, 0, t0, fixed(now), nu.Cert)
	pairs := []struct {
		name           string
		server, client *Credentials
	}{
		{"old-trusting client, renewed server", renewed, oldOnly},
		{"renewed client, old server", oldOnly, renewed},
		{"new-only client, renewed server", renewed, newOnly},
		{"renewed client, renewed server", renewed, renewed},
	}
	for _, p := range pairs {
		cerr, serr := handshake(t, p.server.ServerTLS(RequireClientCert, nil), p.client.ClientTLS(ManagerServerName))
		if cerr != nil || serr != nil {
			t.Errorf("%s: client %v, server %v", p.name, cerr, serr)
		}
	}
	// Once the old root is gone, a node still holding an old certificate
	// is refused.
	cerr, serr := handshake(t, newOnly.ServerTLSForTest(), oldOnly.ClientTLS(ManagerServerName))
	if cerr == nil && serr == nil {
		t.Fatal("old-root certificate accepted after rotation")
	}
}

// ServerTLSForTest: a server requiring client certificates.
func (c *Credentials) ServerTLSForTest() *tls.Config { return c.ServerTLS(RequireClientCert, nil) }

func TestRenewAtIsBetweenHalfAndEightyPercent(t *testing.T) {
	root := mustRoot(t, "c")
	leaf := node(t, root, "n", WorkerRole, 100*time.Hour, t0, fixed(t0)).Leaf()
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	lo := RenewAt(leaf, func(int64) int64 { return 0 })
	hi := RenewAt(leaf, func(n int64) int64 { return n - 1 })
	if lo.Sub(leaf.NotBefore) != life/2 {
		t.Fatalf("earliest renewal at %v of %v", lo.Sub(leaf.NotBefore), life)
	}
	if d := hi.Sub(leaf.NotBefore); d < life*79/100 || d > life*8/10 {
		t.Fatalf("latest renewal at %v of %v", d, life)
	}
	for range 100 {
		at := RenewAt(leaf, nil)
		if at.Before(lo) || at.After(hi) {
			t.Fatalf("renewal at %v outside [%v, %v]", at, lo, hi)
		}
	}
}

func TestParseCSRRefuses(t *testing.T) {
	_, good, err := NewKeyAndCSR()
	if err != nil {
		t.Fatal(err)
	}
	tampered := []byte(strings.Replace(string(good), "A", "B", 1))
	cases := map[string][]byte{
		"empty":          nil,
		"not PEM":        []byte("hello"),
		"a certificate":  EncodeCertificates(mustRoot(t, "c").Cert),
		"trailing data":  append(append([]byte{}, good...), "junk"...),
		"too large":      make([]byte, MaxCSRSize+1),
		"bad signature":  tampered,
		"two CSRs glued": append(append([]byte{}, good...), good...),
	}
	for name, in := range cases {
		if _, err := ParseCSR(in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ParseCSR(good); err != nil {
		t.Fatal(err)
	}
}

func TestSaveAndLoadKeepFilesPrivate(t *testing.T) {
	root := mustRoot(t, "c")
	c := node(t, root, "n", ManagerRole, 0, t0, fixed(t0))
	dir := filepath.Join(t.TempDir(), "certificates")
	if err := c.Save(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{KeyFile, CertFile, RootsFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode %v", f, fi.Mode())
		}
	}
	back, err := Load(dir, fixed(t0))
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := back.Identity(); id.NodeID != "n" || !id.IsManager() {
		t.Fatalf("loaded identity %+v", id)
	}
}
