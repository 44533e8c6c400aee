package controlapi

import (
	"path"
	"strings"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// secretsDir is where a secret whose target is a bare name appears.
const secretsDir = "/run/secrets/"

// defaultFileMode is what docker gives a secret or config file (0444).
const defaultFileMode = 0o444

// SecretPath is the absolute path of a secret reference's file inside the
// container: a relative target lives under /run/secrets.
func SecretPath(target string) string {
	if strings.HasPrefix(target, "/") {
		return path.Clean(target)
	}
	return secretsDir + target
}

// ConfigPath is the absolute path of a config reference's file: a relative
// target is taken from the root, as docker does.
func ConfigPath(target string) string {
	return path.Clean("/" + target)
}

// resolveReferences replaces each secret and config reference's name (or
// ID prefix) by the object's ID and fills docker's defaults (target = name,
// uid and gid 0, mode 0444). Unknown names are NotFound, naming them; two
// files at one path are refused.
func resolveReferences(tx store.ReadTx, spec *api.ServiceSpec) error {
	c := spec.GetTask().GetContainer()
	if c == nil {
		return nil
	}
	targets := map[string]string{} // path -> what uses it
	claim := func(p, what string) error {
		if other, ok := targets[p]; ok {
			return errdefs.InvalidArgument("%s and %s have a conflicting target: %s", other, what, p)
		}
		targets[p] = what
		return nil
	}
	for _, m := range c.GetMounts() {
		targets[path.Clean(m.GetTarget())] = "mount " + m.GetTarget()
	}
	for _, r := range c.GetSecrets() {
		ref := r.GetSecretId()
		if ref == "" {
			ref = r.GetSecretName()
		}
		sec, err := tx.ResolveSecret(ref)
		if err != nil {
			if errdefs.Is(err, errdefs.KindNotFound) {
				return errdefs.NotFound("secret %s not found", ref)
			}
			return err
		}
		r.SecretId, r.SecretName = sec.GetId(), sec.GetSpec().GetName()
		fillFile(r, sec.GetSpec().GetName())
		if err := claim(SecretPath(r.GetFile().GetName()), "secret "+r.GetSecretName()); err != nil {
			return err
		}
	}
	for _, r := range c.GetConfigs() {
		ref := r.GetConfigId()
		if ref == "" {
			ref = r.GetConfigName()
		}
		cfg, err := tx.ResolveConfig(ref)
		if err != nil {
			if errdefs.Is(err, errdefs.KindNotFound) {
				return errdefs.NotFound("config %s not found", ref)
			}
			return err
		}
		r.ConfigId, r.ConfigName = cfg.GetId(), cfg.GetSpec().GetName()
		if r.File == nil {
			r.File = &api.FileTarget{}
		}
		if r.File.Name == "" {
			r.File.Name = "/" + cfg.GetSpec().GetName()
		}
		fillOwner(r.File)
		if err := claim(ConfigPath(r.GetFile().GetName()), "config "+r.GetConfigName()); err != nil {
			return err
		}
	}
	return nil
}

func fillFile(r *api.SecretReference, name string) {
	if r.File == nil {
		r.File = &api.FileTarget{}
	}
	if r.File.Name == "" {
		r.File.Name = name
	}
	fillOwner(r.File)
}

func fillOwner(f *api.FileTarget) {
	if f.Uid == "" {
		f.Uid = "0"
	}
	if f.Gid == "" {
		f.Gid = "0"
	}
	if f.Mode == 0 {
		f.Mode = defaultFileMode
	}
}
