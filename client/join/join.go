// Package join is the client side of joining a swarm and renewing a node
// certificate, shared by the daemon and tests: it checks the root CA a
// manager offers against the join token before sending anything.
package join

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/ca"
	"github.com/minsw/minsw/manager/jointoken"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// FetchRootCA reads the root CA the manager at addr offers, over TLS that
// cannot verify it yet, and accepts it only if its digest is the one in the
// token: a man in the middle offering its own CA is refused here, before
// the token or anything else is sent to it. It returns the root as PEM.
func FetchRootCA(ctx context.Context, addr, token string) ([]byte, error) {
	tok, err := jointoken.Parse(token)
	if err != nil {
		return nil, errdefs.InvalidArgument("%v", err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(ca.FetchRootTLS())))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	resp, err := api.NewMembershipClient(conn).GetRootCA(ctx, &api.GetRootCARequest{}, grpc.WaitForReady(true))
	if err != nil {
		return nil, err
	}
	if !jointoken.Equal(jointoken.Digest(resp.GetRootCaCert()), tok.Digest) {
		return nil, errdefs.InvalidArgument("the root CA offered by %s does not match the join token's digest: refusing to join (wrong swarm, or someone in the middle)", addr)
	}
	root, err := ca.ParseRootCA(resp.GetRootCaCert(), nil)
	if err != nil {
		return nil, errdefs.InvalidArgument("the root CA offered by %s: %v", addr, err)
	}
	return ca.EncodeCertificates(root.Cert), nil
}

// JoinCluster joins through the manager at addr: creds must trust the root
// (FetchRootCA); a new key's CSR goes with req, and the certificate issued
// is installed in creds with the swarm's trust bundle.
func JoinCluster(ctx context.Context, addr string, creds *ca.Credentials, req *api.JoinClusterRequest) (*api.JoinClusterResponse, error) {
	key, csr, err := ca.NewKeyAndCSR()
	if err != nil {
		return nil, err
	}
	req.Csr = csr
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(creds.ClientTLS(ca.ManagerServerName))))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// No WaitForReady: the manager was just reached (FetchRootCA), and a
	// manager whose certificate fails verification must be reported as
	// such, not waited for.
	resp, err := api.NewMembershipClient(conn).JoinCluster(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := install(creds, key, resp.GetCertificate(), resp.GetRootCaCert()); err != nil {
		return nil, fmt.Errorf("join: the certificate issued by %s: %w", addr, err)
	}
	return resp, nil
}

// RenewCertificate asks for a new certificate (a new key) over conn, which
// presents creds' current certificate, and installs it in creds.
func RenewCertificate(ctx context.Context, conn grpc.ClientConnInterface, creds *ca.Credentials) error {
	key, csr, err := ca.NewKeyAndCSR()
	if err != nil {
		return err
	}
	resp, err := api.NewMembershipClient(conn).RenewCertificate(ctx, &api.RenewCertificateRequest{Csr: csr})
	if err != nil {
		return err
	}
	return install(creds, key, resp.GetCertificate(), resp.GetTrustBundle())
}

// install checks the new certificate against the bundle before switching
// to either, so a bad answer leaves the credentials as they were.
func install(creds *ca.Credentials, key, chain, bundle []byte) error {
	check := ca.NewCredentials(creds.Now)
	if err := check.SetRoots(bundle); err != nil {
		return err
	}
	if err := check.Set(key, chain); err != nil {
		return err
	}
	if err := creds.SetRoots(bundle); err != nil {
		return err
	}
	return creds.Set(key, chain)
}
