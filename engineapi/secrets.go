package engineapi

import (
	"context"
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

// dataKind is one kind of swarm data object, secret or config: the Engine
// API serves both the same way, only the types and the Control calls
// differ. D is docker's spec type, M minsw's object, S minsw's spec.
type dataKind[D, M, S any] struct {
	what     string
	list     func(context.Context) ([]M, error)
	named    func(M) (id, name string, labels map[string]string)
	toDocker func(M) any
	fromSpec func(D) (S, error)
	create   func(context.Context, S) (string, error)
	get      func(ctx context.Context, ref string) (M, error)
	update   func(ctx context.Context, ref string, version uint64, spec S) error
	remove   func(ctx context.Context, ref string) error
}

// routes registers the kind's five endpoints under /<what>s.
func (k dataKind[D, M, S]) routes(s *Server) {
	base := "/" + k.what + "s"
	s.handle("GET "+base, k.listHandler)
	s.handle("POST "+base+"/create", k.createHandler)
	s.handle("GET "+base+"/{id}", k.inspectHandler)
	s.handle("POST "+base+"/{id}/update", k.updateHandler)
	s.handle("DELETE "+base+"/{id}", k.removeHandler)
}

func (k dataKind[D, M, S]) listHandler(w http.ResponseWriter, r *http.Request) error {
	args, err := convert.ParseFilters(r.URL.Query().Get("filters"), convert.SecretFilterKeys...)
	if err != nil {
		return err
	}
	objs, err := k.list(r.Context())
	if err != nil {
		return err
	}
	out := []any{}
	for _, x := range objs {
		id, name, labels := k.named(x)
		if convert.MatchNamed(args, id, name, labels) {
			out = append(out, k.toDocker(x))
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (k dataKind[D, M, S]) decodeSpec(r *http.Request) (S, error) {
	var spec D
	if err := decode(r, &spec); err != nil {
		var zero S
		return zero, err
	}
	return k.fromSpec(spec)
}

func (k dataKind[D, M, S]) createHandler(w http.ResponseWriter, r *http.Request) error {
	spec, err := k.decodeSpec(r)
	if err != nil {
		return err
	}
	id, err := k.create(r.Context(), spec)
	if err != nil {
		return err
	}
	// docker's SecretCreateResponse and ConfigCreateResponse are both {"ID": ...}.
	return writeJSON(w, http.StatusCreated, swarm.SecretCreateResponse{ID: id})
}

func (k dataKind[D, M, S]) inspectHandler(w http.ResponseWriter, r *http.Request) error {
	x, err := k.get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, k.toDocker(x))
}

func (k dataKind[D, M, S]) updateHandler(w http.ResponseWriter, r *http.Request) error {
	version, err := requiredVersion(r, k.what)
	if err != nil {
		return err
	}
	spec, err := k.decodeSpec(r)
	if err != nil {
		return err
	}
	if err := k.update(r.Context(), r.PathValue("id"), version, spec); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (k dataKind[D, M, S]) removeHandler(w http.ResponseWriter, r *http.Request) error {
	if err := k.remove(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) secretKind() dataKind[swarm.SecretSpec, *api.Secret, *api.SecretSpec] {
	c := s.b.Control
	return dataKind[swarm.SecretSpec, *api.Secret, *api.SecretSpec]{
		what: "secret",
		list: func(ctx context.Context) ([]*api.Secret, error) {
			resp, err := c.ListSecrets(ctx, &api.ListSecretsRequest{})
			return resp.GetSecrets(), err
		},
		named: func(x *api.Secret) (string, string, map[string]string) {
			return x.GetId(), x.GetSpec().GetName(), x.GetSpec().GetLabels()
		},
		toDocker: func(x *api.Secret) any { return convert.Secret(x) },
		fromSpec: convert.SecretSpecFrom,
		create: func(ctx context.Context, spec *api.SecretSpec) (string, error) {
			resp, err := c.CreateSecret(ctx, &api.CreateSecretRequest{Spec: spec})
			return resp.GetSecret().GetId(), err
		},
		get: func(ctx context.Context, ref string) (*api.Secret, error) {
			resp, err := c.GetSecret(ctx, &api.GetSecretRequest{Ref: ref})
			return resp.GetSecret(), err
		},
		update: func(ctx context.Context, ref string, version uint64, spec *api.SecretSpec) error {
			_, err := c.UpdateSecret(ctx, &api.UpdateSecretRequest{Ref: ref, Version: version, Spec: spec})
			return err
		},
		remove: func(ctx context.Context, ref string) error {
			_, err := c.RemoveSecret(ctx, &api.RemoveSecretRequest{Ref: ref})
			return err
		},
	}
}

func (s *Server) configKind() dataKind[swarm.ConfigSpec, *api.Config, *api.ConfigSpec] {
	c := s.b.Control
	return dataKind[swarm.ConfigSpec, *api.Config, *api.ConfigSpec]{
		what: "config",
		list: func(ctx context.Context) ([]*api.Config, error) {
			resp, err := c.ListConfigs(ctx, &api.ListConfigsRequest{})
			return resp.GetConfigs(), err
		},
		named: func(x *api.Config) (string, string, map[string]string) {
			return x.GetId(), x.GetSpec().GetName(), x.GetSpec().GetLabels()
		},
		toDocker: func(x *api.Config) any { return convert.Config(x) },
		fromSpec: convert.ConfigSpecFrom,
		create: func(ctx context.Context, spec *api.ConfigSpec) (string, error) {
			resp, err := c.CreateConfig(ctx, &api.CreateConfigRequest{Spec: spec})
			return resp.GetConfig().GetId(), err
		},
		get: func(ctx context.Context, ref string) (*api.Config, error) {
			resp, err := c.GetConfig(ctx, &api.GetConfigRequest{Ref: ref})
			return resp.GetConfig(), err
		},
		update: func(ctx context.Context, ref string, version uint64, spec *api.ConfigSpec) error {
			_, err := c.UpdateConfig(ctx, &api.UpdateConfigRequest{Ref: ref, Version: version, Spec: spec})
			return err
		},
		remove: func(ctx context.Context, ref string) error {
			_, err := c.RemoveConfig(ctx, &api.RemoveConfigRequest{Ref: ref})
			return err
		},
	}
}
