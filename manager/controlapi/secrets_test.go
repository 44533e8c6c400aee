package controlapi

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

func mustSecret(t *testing.T, s *Server, name, data string) *api.Secret {
	t.Helper()
	r, err := s.CreateSecret(context.Background(), &api.CreateSecretRequest{Spec: &api.SecretSpec{Name: name, Data: []byte(data)}})
	if err != nil {
		t.Fatal(err)
	}
	return r.GetSecret()
}

func mustConfig(t *testing.T, s *Server, name, data string) *api.Config {
	t.Helper()
	r, err := s.CreateConfig(context.Background(), &api.CreateConfigRequest{Spec: &api.ConfigSpec{Name: name, Data: []byte(data)}})
	if err != nil {
		t.Fatal(err)
	}
	return r.GetConfig()
}

func TestSecretDataNeverLeavesTheAPI(t *testing.T) {
	s, st := newServer(t)
	ctx := context.Background()
	created := mustSecret(t, s, "db_password", "hunter2")
	if len(created.GetSpec().GetData()) != 0 {
		t.Fatal("create returned the secret's data")
	}
	got, err := s.GetSecret(ctx, &api.GetSecretRequest{Ref: "db_password"})
	if err != nil {
		t.Fatal(err)
	}
	ls, _ := s.ListSecrets(ctx, &api.ListSecretsRequest{})
	for _, m := range []proto.Message{got, ls} {
		b, _ := proto.Marshal(m)
		if bytes.Contains(b, []byte("hunter2")) {
			t.Fatalf("%T carries the secret's data", m)
		}
	}
	if got.GetSecret().GetId() != created.GetId() || got.GetSecret().GetMeta().GetCreatedAt() == nil {
		t.Fatalf("inspect %v", got)
	}
	// The store keeps it: the dispatcher needs it.
	st.View(func(tx store.ReadTx) {
		if string(tx.Secret(created.GetId()).GetSpec().GetData()) != "hunter2" {
			t.Fatal("stored secret lost its data")
		}
	})
}

func TestSecretAndConfigBadInputIsRefused(t *testing.T) {
	s, st := newServer(t)
	ctx := context.Background()
	mustSecret(t, s, "taken", "x")
	before := st.Save()
	cases := []struct {
		name string
		spec *api.SecretSpec
		code codes.Code
		want string
	}{
		{"empty name", &api.SecretSpec{Data: []byte("x")}, codes.InvalidArgument, "name must not be empty"},
		{"name with a slash", &api.SecretSpec{Name: "a/b", Data: []byte("x")}, codes.InvalidArgument, `invalid secret name "a/b"`},
		{"name ending in a dot", &api.SecretSpec{Name: "a.", Data: []byte("x")}, codes.InvalidArgument, "start and end character"},
		{"name too long", &api.SecretSpec{Name: strings.Repeat("a", 65), Data: []byte("x")}, codes.InvalidArgument, "only 64"},
		{"no data", &api.SecretSpec{Name: "empty"}, codes.InvalidArgument, "larger than 0"},
		{"over 500 KiB", &api.SecretSpec{Name: "big", Data: make([]byte, MaxSecretSize+1)}, codes.InvalidArgument, "less than 512000 bytes"},
		{"name taken", &api.SecretSpec{Name: "taken", Data: []byte("y")}, codes.AlreadyExists, "secret taken already exists"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.CreateSecret(ctx, &api.CreateSecretRequest{Spec: c.spec})
			if edgeCode(err) != c.code || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want %v %q", err, c.code, c.want)
			}
		})
	}
	if _, err := s.CreateSecret(ctx, &api.CreateSecretRequest{Spec: &api.SecretSpec{Name: "max", Data: make([]byte, MaxSecretSize)}}); err != nil {
		t.Fatalf("exactly 500 KiB: %v", err)
	}
	if _, err := s.CreateConfig(ctx, &api.CreateConfigRequest{Spec: &api.ConfigSpec{Name: "-bad", Data: []byte("x")}}); edgeCode(err) != codes.InvalidArgument {
		t.Fatalf("bad config name: %v", err)
	}
	after := st.Save()
	if len(after.GetSecrets()) != len(before.GetSecrets())+1 || len(after.GetConfigs()) != 0 {
		t.Fatalf("refused creates changed the store: %d secrets, %d configs", len(after.GetSecrets()), len(after.GetConfigs()))
	}
}

func TestSecretUpdateChangesLabelsOnly(t *testing.T) {
	s, _ := newServer(t)
	ctx := context.Background()
	sec := mustSecret(t, s, "tls_key", "k1")
	up, err := s.UpdateSecret(ctx, &api.UpdateSecretRequest{Ref: "tls_key", Version: sec.GetMeta().GetVersion(),
		Spec: &api.SecretSpec{Name: "tls_key", Labels: map[string]string{"env": "prod"}}})
	if err != nil {
		t.Fatal(err)
	}
	if up.GetSecret().GetSpec().GetLabels()["env"] != "prod" || len(up.GetSecret().GetSpec().GetData()) != 0 {
		t.Fatalf("update returned %v", up.GetSecret())
	}
	for name, spec := range map[string]*api.SecretSpec{
		"new data": {Name: "tls_key", Data: []byte("k2")},
		"rename":   {Name: "other"},
	} {
		if _, err := s.UpdateSecret(ctx, &api.UpdateSecretRequest{Ref: "tls_key", Version: up.Secret.Meta.Version, Spec: spec}); edgeCode(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "only updates to Labels are allowed") {
			t.Fatalf("%s: %v", name, err)
		}
	}
	cfg := mustConfig(t, s, "nginx.conf", "server {}")
	if _, err := s.UpdateConfig(ctx, &api.UpdateConfigRequest{Ref: cfg.GetId(), Version: cfg.Meta.Version, Spec: &api.ConfigSpec{Data: []byte("other")}}); edgeCode(err) != codes.InvalidArgument {
		t.Fatalf("config data change: %v", err)
	}
	got, _ := s.GetConfig(ctx, &api.GetConfigRequest{Ref: "nginx.conf"})
	if string(got.GetConfig().GetSpec().GetData()) != "server {}" {
		t.Fatalf("config inspect shows data %q", got.GetConfig().GetSpec().GetData())
	}
}

func withRefs(name string, secrets []*api.SecretReference, configs []*api.ConfigReference) *api.ServiceSpec {
	spec := webSpec(name)
	spec.Task.Container.Secrets = secrets
	spec.Task.Container.Configs = configs
	return spec
}

func TestServiceReferencesResolveAndRemoveIsRefusedWhileUsed(t *testing.T) {
	s, _ := newServer(t)
	ctx := context.Background()
	sec := mustSecret(t, s, "db_password", "pw")
	mustConfig(t, s, "nginx.conf", "server {}")
	r, err := s.CreateService(ctx, &api.CreateServiceRequest{Spec: withRefs("db",
		[]*api.SecretReference{{SecretName: "db_password", File: &api.FileTarget{Uid: "1000", Mode: 0o400}}},
		[]*api.ConfigReference{{ConfigName: "nginx.conf"}})})
	if err != nil {
		t.Fatal(err)
	}
	c := r.GetService().GetSpec().GetTask().GetContainer()
	sr, cr := c.GetSecrets()[0], c.GetConfigs()[0]
	if sr.GetSecretId() != sec.GetId() || sr.GetFile().GetName() != "db_password" || sr.GetFile().GetUid() != "1000" || sr.GetFile().GetGid() != "0" || sr.GetFile().GetMode() != 0o400 {
		t.Fatalf("secret reference %v", sr)
	}
	if cr.GetConfigId() == "" || cr.GetFile().GetName() != "/nginx.conf" || cr.GetFile().GetMode() != 0o444 {
		t.Fatalf("config reference %v", cr)
	}
	_, err = s.RemoveSecret(ctx, &api.RemoveSecretRequest{Ref: "db_password"})
	if edgeCode(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "secret 'db_password' is in use by the following service: db") {
		t.Fatalf("rm in use: %v", err)
	}
	if _, err := s.RemoveConfig(ctx, &api.RemoveConfigRequest{Ref: "nginx.conf"}); edgeCode(err) != codes.FailedPrecondition {
		t.Fatalf("config rm in use: %v", err)
	}
	if _, err := s.RemoveService(ctx, &api.RemoveServiceRequest{Ref: "db"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RemoveSecret(ctx, &api.RemoveSecretRequest{Ref: "db_password"}); err != nil {
		t.Fatalf("rm after service rm: %v", err)
	}
	if _, err := s.RemoveConfig(ctx, &api.RemoveConfigRequest{Ref: "nginx.conf"}); err != nil {
		t.Fatalf("config rm after service rm: %v", err)
	}
}

func TestServiceStorageBadInputIsRefused(t *testing.T) {
	s, st := newServer(t)
	ctx := context.Background()
	mustSecret(t, s, "pw", "x")
	mustConfig(t, s, "conf", "x")
	mounts := func(ms ...*api.Mount) *api.ServiceSpec {
		spec := webSpec("other")
		spec.Task.Container.Mounts = ms
		return spec
	}
	cases := []struct {
		name string
		spec *api.ServiceSpec
		code codes.Code
		want string
	}{
		{"unknown secret", withRefs("other", []*api.SecretReference{{SecretName: "nosuch"}}, nil), codes.NotFound, "secret nosuch not found"},
		{"unknown config", withRefs("other", nil, []*api.ConfigReference{{ConfigName: "nosuch"}}), codes.NotFound, "config nosuch not found"},
		{"duplicate secret target", withRefs("other", []*api.SecretReference{{SecretName: "pw"}, {SecretName: "pw", File: &api.FileTarget{Name: "pw"}}}, nil), codes.InvalidArgument, "conflicting target: /run/secrets/pw"},
		{"config over a mount", func() *api.ServiceSpec {
			sp := withRefs("other", nil, []*api.ConfigReference{{ConfigName: "conf", File: &api.FileTarget{Name: "/data"}}})
			sp.Task.Container.Mounts = []*api.Mount{{Type: api.MountType_MOUNT_TYPE_VOLUME, Target: "/data"}}
			return sp
		}(), codes.InvalidArgument, "conflicting target: /data"},
		{"secret target with ..", withRefs("other", []*api.SecretReference{{SecretName: "pw", File: &api.FileTarget{Name: "../etc/passwd"}}}, nil), codes.InvalidArgument, "must not contain .."},
		{"mount without target", mounts(&api.Mount{Type: api.MountType_MOUNT_TYPE_VOLUME, Source: "data"}), codes.InvalidArgument, "field Target must not be empty"},
		{"relative target", mounts(&api.Mount{Type: api.MountType_MOUNT_TYPE_TMPFS, Target: "tmp"}), codes.InvalidArgument, "mount path must be absolute"},
		{"relative bind source", mounts(&api.Mount{Type: api.MountType_MOUNT_TYPE_BIND, Source: "data", Target: "/data"}), codes.InvalidArgument, `invalid mount config for type "bind": invalid mount path: 'data' mount path must be absolute`},
		{"bind without source", mounts(&api.Mount{Type: api.MountType_MOUNT_TYPE_BIND, Target: "/data"}), codes.InvalidArgument, "field Source must not be empty"},
		{"tmpfs with source", mounts(&api.Mount{Type: api.MountType_MOUNT_TYPE_TMPFS, Source: "x", Target: "/t"}), codes.InvalidArgument, "field Source must be empty"},
		{"unknown mount type", mounts(&api.Mount{Type: 9, Target: "/t"}), codes.InvalidArgument, "invalid mount type (spec.task.container.mounts[0].type) 9: want one of bind, volume, tmpfs"},
		{"other volume driver", mounts(&api.Mount{Type: api.MountType_MOUNT_TYPE_VOLUME, Source: "v", Target: "/v",
			VolumeOptions: &api.VolumeOptions{DriverConfig: &api.Driver{Name: "nfs"}}}), codes.InvalidArgument, `volume driver "nfs" is not supported`},
		{"duplicate mount point", mounts(&api.Mount{Type: api.MountType_MOUNT_TYPE_TMPFS, Target: "/t"}, &api.Mount{Type: api.MountType_MOUNT_TYPE_VOLUME, Target: "/t/"}), codes.InvalidArgument, "duplicate mount point"},
	}
	before := st.Save()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.CreateService(ctx, &api.CreateServiceRequest{Spec: c.spec})
			if edgeCode(err) != c.code || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want %v %q", err, c.code, c.want)
			}
		})
	}
	after := st.Save()
	if !proto.Equal(before, after) {
		t.Fatal("refused creates changed the store")
	}
	// The same checks guard updates.
	cur, _ := s.GetService(ctx, &api.GetServiceRequest{Ref: "web"})
	up := proto.Clone(cur.GetService().GetSpec()).(*api.ServiceSpec)
	up.Task.Container.Secrets = []*api.SecretReference{{SecretName: "nosuch"}}
	if _, err := s.UpdateService(ctx, &api.UpdateServiceRequest{Ref: "web", Version: cur.Service.Meta.Version, Spec: up}); edgeCode(err) != codes.NotFound {
		t.Fatalf("update with unknown secret: %v", err)
	}
}
