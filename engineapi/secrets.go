package engineapi

import (
	"net/http"

	"github.com/docker/docker/api/types/swarm"

	"github.com/minsw/minsw/engineapi/convert"
	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

func requiredVersion(r *http.Request, what string) (uint64, error) {
	v, err := uintValue(r, "version")
	if err == nil && v == 0 {
		err = errdefs.InvalidArgument("invalid %s version: the version query parameter is required", what)
	}
	return v, err
}

func (s *Server) secretList(w http.ResponseWriter, r *http.Request) error {
	args, err := convert.ParseFilters(r.URL.Query().Get("filters"), convert.SecretFilterKeys...)
	if err != nil {
		return err
	}
	resp, err := s.b.Control.ListSecrets(r.Context(), &api.ListSecretsRequest{})
	if err != nil {
		return err
	}
	out := []swarm.Secret{}
	for _, x := range resp.GetSecrets() {
		if convert.MatchNamed(args, x.GetId(), x.GetSpec().GetName(), x.GetSpec().GetLabels()) {
			out = append(out, convert.Secret(x))
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) secretCreate(w http.ResponseWriter, r *http.Request) error {
	var spec swarm.SecretSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	ms, err := convert.SecretSpecFrom(spec)
	if err != nil {
		return err
	}
	resp, err := s.b.Control.CreateSecret(r.Context(), &api.CreateSecretRequest{Spec: ms})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, swarm.SecretCreateResponse{ID: resp.GetSecret().GetId()})
}

func (s *Server) secretInspect(w http.ResponseWriter, r *http.Request) error {
	resp, err := s.b.Control.GetSecret(r.Context(), &api.GetSecretRequest{Ref: r.PathValue("id")})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, convert.Secret(resp.GetSecret()))
}

func (s *Server) secretUpdate(w http.ResponseWriter, r *http.Request) error {
	version, err := requiredVersion(r, "secret")
	if err != nil {
		return err
	}
	var spec swarm.SecretSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	ms, err := convert.SecretSpecFrom(spec)
	if err != nil {
		return err
	}
	if _, err := s.b.Control.UpdateSecret(r.Context(), &api.UpdateSecretRequest{Ref: r.PathValue("id"), Version: version, Spec: ms}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) secretRemove(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.b.Control.RemoveSecret(r.Context(), &api.RemoveSecretRequest{Ref: r.PathValue("id")}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) configList(w http.ResponseWriter, r *http.Request) error {
	args, err := convert.ParseFilters(r.URL.Query().Get("filters"), convert.SecretFilterKeys...)
	if err != nil {
		return err
	}
	resp, err := s.b.Control.ListConfigs(r.Context(), &api.ListConfigsRequest{})
	if err != nil {
		return err
	}
	out := []swarm.Config{}
	for _, x := range resp.GetConfigs() {
		if convert.MatchNamed(args, x.GetId(), x.GetSpec().GetName(), x.GetSpec().GetLabels()) {
			out = append(out, convert.Config(x))
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) configCreate(w http.ResponseWriter, r *http.Request) error {
	var spec swarm.ConfigSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	ms, err := convert.ConfigSpecFrom(spec)
	if err != nil {
		return err
	}
	resp, err := s.b.Control.CreateConfig(r.Context(), &api.CreateConfigRequest{Spec: ms})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, swarm.ConfigCreateResponse{ID: resp.GetConfig().GetId()})
}

func (s *Server) configInspect(w http.ResponseWriter, r *http.Request) error {
	resp, err := s.b.Control.GetConfig(r.Context(), &api.GetConfigRequest{Ref: r.PathValue("id")})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, convert.Config(resp.GetConfig()))
}

func (s *Server) configUpdate(w http.ResponseWriter, r *http.Request) error {
	version, err := requiredVersion(r, "config")
	if err != nil {
		return err
	}
	var spec swarm.ConfigSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	ms, err := convert.ConfigSpecFrom(spec)
	if err != nil {
		return err
	}
	if _, err := s.b.Control.UpdateConfig(r.Context(), &api.UpdateConfigRequest{Ref: r.PathValue("id"), Version: version, Spec: ms}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) configRemove(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.b.Control.RemoveConfig(r.Context(), &api.RemoveConfigRequest{Ref: r.PathValue("id")}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
