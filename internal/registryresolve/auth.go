package registryresolve

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/minsw/minsw/internal/errdefs"
)

// Credentials are a user's login to one registry: what `docker login`
// sends (POST /auth) and what --with-registry-auth sends with a lookup
// (docker's X-Registry-Auth: base64url JSON).
type Credentials struct {
	Username      string `json:"username"`
	Password      string `json:"password"`
	ServerAddress string `json:"serveraddress"`
	IdentityToken string `json:"identitytoken"`
}

// ParseAuth decodes an X-Registry-Auth value; "" is no credentials.
func ParseAuth(header string) (*Credentials, error) {
	if header == "" {
		return nil, nil
	}
	raw, err := base64.URLEncoding.DecodeString(header)
	if err != nil {
		if raw, err = base64.StdEncoding.DecodeString(header); err != nil {
			return nil, errdefs.InvalidArgument("invalid registry credentials (X-Registry-Auth): not base64")
		}
	}
	var c Credentials
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, errdefs.InvalidArgument("invalid registry credentials (X-Registry-Auth): not JSON")
	}
	if c == (Credentials{}) {
		return nil, nil
	}
	return &c, nil
}

// host is the registry the credentials are for ("" for any).
func (c *Credentials) host() string {
	h := strings.TrimSuffix(c.ServerAddress, "/")
	h = strings.TrimPrefix(strings.TrimPrefix(h, "https://"), "http://")
	if i := strings.IndexByte(h, '/'); i >= 0 {
		h = h[:i]
	}
	return h
}

// isDockerHub says whether h is one of Docker Hub's hosts (its registry,
// its index, or its token service).
func isDockerHub(h string) bool {
	switch h {
	case "docker.io", "index.docker.io", "registry-1.docker.io", "auth.docker.io":
		return true
	}
	return false
}

// For says whether the credentials may be shown to registry host: they
// name it (any Docker Hub host counts as Docker Hub), or name no registry.
// A login to one registry never reaches another.
func (c *Credentials) For(host string) bool {
	if c == nil {
		return false
	}
	h := c.host()
	return h == "" || h == host || isDockerHub(h) && isDockerHub(host)
}

// Key tells lookups or pulls with different credentials apart, without
// the secret ("" for none).
func (c *Credentials) Key() string {
	if c == nil {
		return ""
	}
	sum := sha256.Sum256([]byte(c.Username + "\x00" + c.Password + "\x00" + c.IdentityToken))
	return "@" + hex.EncodeToString(sum[:8])
}

// authenticator is what to show registry host: the credentials when they
// are for it, else nothing.
func (c *Credentials) authenticator(host string) authn.Authenticator {
	if !c.For(host) {
		return authn.Anonymous
	}
	return authn.FromConfig(authn.AuthConfig{Username: c.Username, Password: c.Password, IdentityToken: c.IdentityToken})
}

// registry is the registry a login names, reached as Resolve reaches it
// (plain HTTP for loopback and --insecure-registry ones).
func (r *Resolver) registry(server string) (name.Registry, error) {
	if isDockerHub(server) || server == "" {
		return name.Registry{}, errdefs.Unimplemented("minsw never contacts Docker Hub, so it cannot check a Docker Hub login: Docker Hub images are pulled through the node's registry mirror (minsw daemon --registry-mirror)")
	}
	var opts []name.Option
	if r.insecure[server] || isLoopback(server) {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(server, opts...)
	if err != nil {
		return name.Registry{}, errdefs.InvalidArgument("invalid registry address %q", server)
	}
	return reg, nil
}

// Login checks c against its registry, as dockerd's POST /auth: the
// registry's /v2/ answers 200 to them (after its token exchange, if it
// uses one). A refusal is Unauthenticated, in the registry's terms.
func (r *Resolver) Login(ctx context.Context, c Credentials) error {
	reg, err := r.registry(c.host())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	rt, err := transport.NewWithContext(ctx, reg, c.authenticator(reg.RegistryStr()), r.rt, nil)
	if err != nil {
		return loginError(reg, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s://%s/v2/", reg.Scheme(), reg.RegistryStr()), nil)
	if err != nil {
		return errdefs.InvalidArgument("invalid registry address %q", c.ServerAddress)
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return loginError(reg, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	switch {
	case resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return errdefs.Unauthenticated("login to %s refused: %s (wrong username or password?)", reg.RegistryStr(), resp.Status)
	}
	return errdefs.Unavailable("login to %s: the registry answered %s", reg.RegistryStr(), resp.Status)
}

func loginError(reg name.Registry, err error) error {
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
		return errdefs.Unauthenticated("login to %s refused: %d %s (wrong username or password?)", reg.RegistryStr(), te.StatusCode, http.StatusText(te.StatusCode))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errdefs.Unavailable("the registry %s did not answer in time", reg.RegistryStr())
	}
	return errdefs.Unavailable("cannot reach the registry %s: %v", reg.RegistryStr(), err)
}
