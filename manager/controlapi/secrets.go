package controlapi

import (
	"context"
	"regexp"
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Swarm's limits on secrets and configs.
const (
	MaxSecretSize = 500 * 1024
	MaxConfigSize = 1000 * 1024
	maxBlobName   = 64
)

// blobNameRE is swarmkit's rule for secret and config names.
var blobNameRE = regexp.MustCompile(`^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$`)

// validateBlob checks a secret's or config's name and data size.
func validateBlob(kind, name string, data []byte, limit int) error {
	if name == "" {
		return errdefs.InvalidArgument("%s name must not be empty", kind)
	}
	if len(name) > maxBlobName || !blobNameRE.MatchString(name) {
		return errdefs.InvalidArgument("invalid %s name %s: only %d [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]", kind, quoteShort(name), maxBlobName)
	}
	if len(data) == 0 || len(data) > limit {
		return errdefs.InvalidArgument("%s data must be larger than 0 and less than %d bytes (%s %s has %d)", kind, limit, kind, name, len(data))
	}
	return nil
}

// redactSecret is what the API shows of a secret: everything but its data,
// which never leaves the managers except towards the nodes that run a task
// needing it.
func redactSecret(s *api.Secret) *api.Secret {
	if s == nil {
		return nil
	}
	out := proto.Clone(s).(*api.Secret)
	out.Spec.Data = nil
	return out
}

// usersOf names the services whose spec references the secret or config
// with id (sorted, for a stable message).
func usersOf(tx store.ReadTx, id string, secret bool) []string {
	var users []string
	for _, svc := range tx.Services() {
		c := svc.GetSpec().GetTask().GetContainer()
		used := false
		if secret {
			for _, r := range c.GetSecrets() {
				used = used || r.GetSecretId() == id
			}
		} else {
			for _, r := range c.GetConfigs() {
				used = used || r.GetConfigId() == id
			}
		}
		if used {
			users = append(users, svc.GetSpec().GetName())
		}
	}
	sort.Strings(users)
	return users
}

func inUse(kind, name string, users []string) error {
	word := "service"
	if len(users) > 1 {
		word = "services"
	}
	return errdefs.FailedPrecondition("%s '%s' is in use by the following %s: %s", kind, name, word, joinNames(users))
}

// ---- secrets

func (s *Server) GetSecret(_ context.Context, r *api.GetSecretRequest) (*api.GetSecretResponse, error) {
	var out *api.Secret
	err := s.view(func(tx store.ReadTx) error {
		sec, err := tx.ResolveSecret(r.GetRef())
		out = sec
		return err
	})
	if err != nil {
		return nil, err
	}
	return &api.GetSecretResponse{Secret: redactSecret(out)}, nil
}

func (s *Server) ListSecrets(_ context.Context, r *api.ListSecretsRequest) (*api.ListSecretsResponse, error) {
	var secs []*api.Secret
	s.st.View(func(tx store.ReadTx) { secs = tx.Secrets() })
	out := make([]*api.Secret, len(secs))
	for i, sec := range secs {
		out[i] = redactSecret(sec)
	}
	out, next, err := listPage(out, func(s *api.Secret) string { return s.GetSpec().GetName() }, r.GetPageSize(), r.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &api.ListSecretsResponse{Secrets: out, NextPageToken: next}, nil
}

func (s *Server) CreateSecret(ctx context.Context, r *api.CreateSecretRequest) (*api.CreateSecretResponse, error) {
	if r.GetSpec() == nil {
		return nil, errdefs.InvalidArgument("no secret spec given")
	}
	if err := checkRequest(r); err != nil {
		return nil, err
	}
	spec := proto.Clone(r.GetSpec()).(*api.SecretSpec)
	if err := validateBlob("secret", spec.GetName(), spec.GetData(), MaxSecretSize); err != nil {
		return nil, err
	}
	var id string
	err := s.update(ctx, func(tx *store.Tx) error {
		if tx.SecretByName(spec.GetName()) != nil {
			return errdefs.AlreadyExists("secret %s already exists", spec.GetName())
		}
		o := &api.Secret{Id: s.newID(), Meta: &api.Meta{}, Spec: proto.Clone(spec).(*api.SecretSpec)}
		id = o.GetId()
		return tx.Create(o)
	})
	if err != nil {
		return nil, err
	}
	var out *api.Secret
	s.st.View(func(tx store.ReadTx) { out = tx.Secret(id) })
	return &api.CreateSecretResponse{Secret: redactSecret(out)}, nil
}

// UpdateSecret changes a secret's labels; its name and data are fixed.
func (s *Server) UpdateSecret(ctx context.Context, r *api.UpdateSecretRequest) (*api.UpdateSecretResponse, error) {
	if r.GetSpec() == nil {
		return nil, errdefs.InvalidArgument("no secret spec given")
	}
	if err := checkRequest(r); err != nil {
		return nil, err
	}
	var id string
	err := s.update(ctx, func(tx *store.Tx) error {
		cur, err := tx.ResolveSecret(r.GetRef())
		if err != nil {
			return err
		}
		if err := checkVersion("secret", cur.GetSpec().GetName(), r.GetVersion(), cur.GetMeta().GetVersion()); err != nil {
			return err
		}
		if n := r.GetSpec().GetName(); n != "" && n != cur.GetSpec().GetName() {
			return errdefs.InvalidArgument("only updates to Labels are allowed: secret %s cannot be renamed", cur.GetSpec().GetName())
		}
		if d := r.GetSpec().GetData(); len(d) > 0 && string(d) != string(cur.GetSpec().GetData()) {
			return errdefs.InvalidArgument("only updates to Labels are allowed: the data of secret %s cannot change", cur.GetSpec().GetName())
		}
		n := proto.Clone(cur).(*api.Secret)
		n.Spec.Labels = r.GetSpec().GetLabels()
		id = n.GetId()
		return tx.Update(n)
	})
	if err != nil {
		return nil, err
	}
	var out *api.Secret
	s.st.View(func(tx store.ReadTx) { out = tx.Secret(id) })
	return &api.UpdateSecretResponse{Secret: redactSecret(out)}, nil
}

func (s *Server) RemoveSecret(ctx context.Context, r *api.RemoveSecretRequest) (*api.RemoveSecretResponse, error) {
	err := s.update(ctx, func(tx *store.Tx) error {
		sec, err := tx.ResolveSecret(r.GetRef())
		if err != nil {
			return err
		}
		if users := usersOf(tx.ReadTx, sec.GetId(), true); len(users) > 0 {
			return inUse("secret", sec.GetSpec().GetName(), users)
		}
		return tx.Delete(sec)
	})
	if err != nil {
		return nil, err
	}
	return &api.RemoveSecretResponse{}, nil
}

// ---- configs

func (s *Server) GetConfig(_ context.Context, r *api.GetConfigRequest) (*api.GetConfigResponse, error) {
	var out *api.Config
	err := s.view(func(tx store.ReadTx) error {
		c, err := tx.ResolveConfig(r.GetRef())
		out = c
		return err
	})
	if err != nil {
		return nil, err
	}
	return &api.GetConfigResponse{Config: out}, nil
}

func (s *Server) ListConfigs(_ context.Context, r *api.ListConfigsRequest) (*api.ListConfigsResponse, error) {
	var all []*api.Config
	s.st.View(func(tx store.ReadTx) { all = tx.Configs() })
	out, next, err := listPage(all, func(c *api.Config) string { return c.GetSpec().GetName() }, r.GetPageSize(), r.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &api.ListConfigsResponse{Configs: out, NextPageToken: next}, nil
}

func (s *Server) CreateConfig(ctx context.Context, r *api.CreateConfigRequest) (*api.CreateConfigResponse, error) {
	if r.GetSpec() == nil {
		return nil, errdefs.InvalidArgument("no config spec given")
	}
	if err := checkRequest(r); err != nil {
		return nil, err
	}
	spec := proto.Clone(r.GetSpec()).(*api.ConfigSpec)
	if err := validateBlob("config", spec.GetName(), spec.GetData(), MaxConfigSize); err != nil {
		return nil, err
	}
	var id string
	err := s.update(ctx, func(tx *store.Tx) error {
		if tx.ConfigByName(spec.GetName()) != nil {
			return errdefs.AlreadyExists("config %s already exists", spec.GetName())
		}
		o := &api.Config{Id: s.newID(), Meta: &api.Meta{}, Spec: proto.Clone(spec).(*api.ConfigSpec)}
		id = o.GetId()
		return tx.Create(o)
	})
	if err != nil {
		return nil, err
	}
	var out *api.Config
	s.st.View(func(tx store.ReadTx) { out = tx.Config(id) })
	return &api.CreateConfigResponse{Config: out}, nil
}

// UpdateConfig changes a config's labels; its name and data are fixed.
func (s *Server) UpdateConfig(ctx context.Context, r *api.UpdateConfigRequest) (*api.UpdateConfigResponse, error) {
	if r.GetSpec() == nil {
		return nil, errdefs.InvalidArgument("no config spec given")
	}
	if err := checkRequest(r); err != nil {
		return nil, err
	}
	var id string
	err := s.update(ctx, func(tx *store.Tx) error {
		cur, err := tx.ResolveConfig(r.GetRef())
		if err != nil {
			return err
		}
		if err := checkVersion("config", cur.GetSpec().GetName(), r.GetVersion(), cur.GetMeta().GetVersion()); err != nil {
			return err
		}
		if n := r.GetSpec().GetName(); n != "" && n != cur.GetSpec().GetName() {
			return errdefs.InvalidArgument("only updates to Labels are allowed: config %s cannot be renamed", cur.GetSpec().GetName())
		}
		if d := r.GetSpec().GetData(); len(d) > 0 && string(d) != string(cur.GetSpec().GetData()) {
			return errdefs.InvalidArgument("only updates to Labels are allowed: the data of config %s cannot change", cur.GetSpec().GetName())
		}
		n := proto.Clone(cur).(*api.Config)
		n.Spec.Labels = r.GetSpec().GetLabels()
		id = n.GetId()
		return tx.Update(n)
	})
	if err != nil {
		return nil, err
	}
	var out *api.Config
	s.st.View(func(tx store.ReadTx) { out = tx.Config(id) })
	return &api.UpdateConfigResponse{Config: out}, nil
}

func (s *Server) RemoveConfig(ctx context.Context, r *api.RemoveConfigRequest) (*api.RemoveConfigResponse, error) {
	err := s.update(ctx, func(tx *store.Tx) error {
		c, err := tx.ResolveConfig(r.GetRef())
		if err != nil {
			return err
		}
		if users := usersOf(tx.ReadTx, c.GetId(), false); len(users) > 0 {
			return inUse("config", c.GetSpec().GetName(), users)
		}
		return tx.Delete(c)
	})
	if err != nil {
		return nil, err
	}
	return &api.RemoveConfigResponse{}, nil
}
