package containerd

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/minsw/minsw/worker/executor"
)

// registryCreds are the credentials of docker's X-Registry-Auth, as the
// CLI sends them with --with-registry-auth: base64url JSON of username,
// password and the registry they are for.
type registryCreds struct {
	Username      string `json:"username"`
	Password      string `json:"password"`
	ServerAddress string `json:"serveraddress"`
	IdentityToken string `json:"identitytoken"`
}

func parseRegistryAuth(s string) (*registryCreds, error) {
	if s == "" {
		return nil, nil
	}
	raw, err := base64.URLEncoding.DecodeString(s)
	if err != nil {
		if raw, err = base64.StdEncoding.DecodeString(s); err != nil {
			return nil, fmt.Errorf("%w: registry credentials are not base64", executor.ErrImagePull)
		}
	}
	var c registryCreds
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%w: registry credentials are not JSON", executor.ErrImagePull)
	}
	return &c, nil
}

// forHost answers a registry's challenge: the credentials go only to the
// registry they were given for (any, when the CLI named none).
func (c *registryCreds) forHost(host string) (string, string, error) {
	want := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSuffix(c.ServerAddress, "/"), "https://"), "http://")
	if want != "" && want != host && !(isDockerHub(want) && isDockerHub(host)) {
		return "", "", nil
	}
	if c.IdentityToken != "" {
		return "", c.IdentityToken, nil
	}
	return c.Username, c.Password, nil
}

func isDockerHub(h string) bool {
	switch strings.TrimSuffix(h, "/v1") {
	case "docker.io", "index.docker.io", "registry-1.docker.io", "auth.docker.io":
		return true
	}
	return false
}

// key tells pulls with different credentials apart, without the secret.
func (c *registryCreds) key() string {
	if c == nil {
		return ""
	}
	sum := sha256.Sum256([]byte(c.Username + "\x00" + c.Password + "\x00" + c.IdentityToken))
	return "@" + hex.EncodeToString(sum[:8])
}

// PullWithAuth is Pull with the task's registry credentials
// (--with-registry-auth), which are used for this pull only.
func (e *Executor) PullWithAuth(ctx context.Context, image, auth string) error {
	creds, err := parseRegistryAuth(auth)
	if err != nil {
		return err
	}
	_, err = e.imageWithAuth(e.ns(ctx), image, creds)
	return err
}
