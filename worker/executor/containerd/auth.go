package containerd

import (
	"context"
	"fmt"

	"github.com/minsw/minsw/internal/registryresolve"
	"github.com/minsw/minsw/worker/executor"
)

// parseRegistryAuth decodes docker's X-Registry-Auth, as the CLI sends it
// with --with-registry-auth, through the one decoder the node's registry
// lookups use; a bad value is a pull error in its words.
func parseRegistryAuth(s string) (*registryresolve.Credentials, error) {
	c, err := registryresolve.ParseAuth(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", executor.ErrImagePull, err)
	}
	return c, nil
}

// forHost answers a registry's challenge (containerd's WithAuthCreds): the
// credentials go only to the registry they were given for (any, when the
// CLI named none); an identity token is sent as the secret.
func forHost(c *registryresolve.Credentials) func(host string) (string, string, error) {
	return func(host string) (string, string, error) {
		if !c.For(host) {
			return "", "", nil
		}
		if c.IdentityToken != "" {
			return "", c.IdentityToken, nil
		}
		return c.Username, c.Password, nil
	}
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
