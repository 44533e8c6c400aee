package engineapi

import (
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/docker/docker/api/types/registry"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/internal/registryresolve"
)

// registryLogin is `docker login`: dockerd checks the credentials against
// the registry and answers "Login Succeeded"; the CLI then keeps them in
// its config, whence --with-registry-auth sends them with service create.
// The node keeps nothing.
func (s *Server) registryLogin(w http.ResponseWriter, r *http.Request) error {
	var req registry.AuthConfig
	if err := decode(r, &req); err != nil {
		return err
	}
	if s.cfg.Images == nil {
		return errdefs.Unimplemented("this minsw node looks no images up in registries, so it cannot check a login")
	}
	if req.Username == "" && req.Auth != "" {
		raw, err := base64.StdEncoding.DecodeString(req.Auth)
		if err != nil {
			return errdefs.InvalidArgument("invalid auth: not base64 of username:password")
		}
		req.Username, req.Password, _ = strings.Cut(string(raw), ":")
	}
	if req.Username == "" && req.IdentityToken == "" {
		return errdefs.InvalidArgument("a username is required to log in")
	}
	creds := registryresolve.Credentials{Username: req.Username, Password: req.Password, ServerAddress: req.ServerAddress, IdentityToken: req.IdentityToken}
	if err := s.cfg.Images.Login(r.Context(), creds); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, registry.AuthenticateOKBody{Status: "Login Succeeded"})
}
