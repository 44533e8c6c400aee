package engineapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T, name string) *testCA {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key}
}

// issue writes <dir>/ca.pem, cert.pem and key.pem (docker's names) for a
// server (IP SAN 127.0.0.1) or a client certificate.
func (ca *testCA) issue(t *testing.T, dir string, server bool) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.Subject.CommonName = "minsw"
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"ca.pem":   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}),
		"cert.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"key.pem":  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDockerOverTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "minsw test CA")
	ca.issue(t, filepath.Join(dir, "server"), true)
	ca.issue(t, filepath.Join(dir, "client"), false)
	newCA(t, "another CA").issue(t, filepath.Join(dir, "stranger"), false)
	addr := freePort(t)
	srv := filepath.Join(dir, "server")
	d := startDaemon(t, "swarm-manager", "--docker-tcp", addr, "--docker-tlscacert", filepath.Join(srv, "ca.pem"),
		"--docker-tlscert", filepath.Join(srv, "cert.pem"), "--docker-tlskey", filepath.Join(srv, "key.pem"))
	d.initSwarm()

	tcpDocker := func(certs string, args ...string) (string, error) {
		cmd := exec.Command("docker", append([]string{"--tlsverify", "-H", "tcp://" + addr}, args...)...)
		cmd.Env = append(os.Environ(), "DOCKER_CERT_PATH="+certs, "DOCKER_CONFIG="+filepath.Join(dir, "cfg"))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := tcpDocker(filepath.Join(dir, "client"), "node", "ls")
	if err != nil || !strings.Contains(out, "swarm-manager") {
		t.Fatalf("node ls over TLS with a client certificate: %v\n%s", err, out)
	}
	if out, err := tcpDocker(filepath.Join(dir, "stranger"), "node", "ls"); err == nil {
		t.Fatalf("a client certificate from another CA was let in:\n%s", out)
	}
	// Plain HTTP on the TCP port gets nothing.
	cmd := exec.Command("docker", "-H", "tcp://"+addr, "version")
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(dir, "cfg"))
	if b, err := cmd.CombinedOutput(); err == nil && strings.Contains(string(b), "minsw") {
		t.Fatalf("plain HTTP reached the Engine API:\n%s", b)
	}

	// TCP without certificates is refused at start.
	bad := exec.Command(binPath, "daemon", "--executor", "fake", "--data-root", filepath.Join(dir, "bad", "data"),
		"--exec-root", filepath.Join(dir, "bad", "run"), "--docker-tcp", freePort(t))
	b, err := bad.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "--docker-tcp needs --docker-tlscacert") {
		t.Fatalf("--docker-tcp without TLS: %v\n%s", err, b)
	}
}
