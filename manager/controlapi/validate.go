package controlapi

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/scheduler"
)

// Limits on what a spec may ask for.
const (
	maxNameLen  = 63
	maxReplicas = 100_000
)

// nameRE is Docker's rule for service and network names.
var nameRE = regexp.MustCompile(`^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$`)

// ValidateName checks a service or network name.
func ValidateName(kind, n string) error {
	if n == "" {
		return errdefs.InvalidArgument("%s name must not be empty", kind)
	}
	if len(n) > maxNameLen {
		return errdefs.InvalidArgument("invalid %s name %s: longer than %d characters", kind, quoteShort(n), maxNameLen)
	}
	if !nameRE.MatchString(n) {
		return errdefs.InvalidArgument("invalid %s name %s: it must start with a letter or digit and contain only letters, digits, '-' and '_' (pattern %s)", kind, quoteShort(n), nameRE.String())
	}
	return nil
}

// ValidateImage checks an image reference as docker parses one.
func ValidateImage(ref string) error {
	if ref == "" {
		return errdefs.InvalidArgument("no image given")
	}
	// Docker's reference grammar caps a repository name at 255 characters
	// (a tag or digest adds at most ~130).
	if len(ref) > 400 {
		return errdefs.InvalidArgument("invalid image reference %s: longer than 400 characters", quoteShort(ref))
	}
	if _, err := name.ParseReference(ref, name.WeakValidation); err != nil {
		return errdefs.InvalidArgument("invalid image reference %s: %v", quoteShort(ref), err)
	}
	return nil
}

// NormaliseImage is the image reference as stored, once, so every table
// and inspect shows the same: a reference without a tag or digest gets
// ":latest" ("containous/whoami" -> "containous/whoami:latest"), as docker
// resolves it; the repository is kept as the user wrote it.
func NormaliseImage(ref string) string {
	if ref == "" || strings.Contains(ref, "@") {
		return ref
	}
	if last := ref[strings.LastIndex(ref, "/")+1:]; strings.Contains(last, ":") {
		return ref
	}
	return ref + ":latest"
}

// validateServiceSpec checks everything in spec that needs no store.
func validateServiceSpec(spec *api.ServiceSpec) error {
	if spec == nil {
		return errdefs.InvalidArgument("no service spec given")
	}
	if err := ValidateName("service", spec.GetName()); err != nil {
		return err
	}
	if spec.GetMode() == nil {
		return errdefs.InvalidArgument("service %s has no mode: want replicated, global, replicated-job or global-job", spec.GetName())
	}
	if r := spec.GetReplicated(); r != nil && r.GetReplicas() > maxReplicas {
		return errdefs.InvalidArgument("invalid replicas %d: at most %d", r.GetReplicas(), maxReplicas)
	}
	ts := spec.GetTask()
	if ts.GetContainer() == nil {
		return errdefs.InvalidArgument("service %s has no container spec", spec.GetName())
	}
	if err := ValidateImage(ts.GetContainer().GetImage()); err != nil {
		return err
	}
	for _, e := range ts.GetContainer().GetEnv() {
		if k, _, _ := strings.Cut(e, "="); k == "" {
			return errdefs.InvalidArgument("invalid environment variable %s: want KEY=VALUE", quoteShort(e))
		}
	}
	if err := validateStorage(ts.GetContainer()); err != nil {
		return err
	}
	if _, err := scheduler.ParseConstraints(ts.GetPlacement().GetConstraints()); err != nil {
		if errors.Is(err, scheduler.ErrInvalidConstraint) {
			return errdefs.InvalidArgument("%v", err)
		}
		return err
	}
	if rp := ts.GetRestart(); rp != nil {
		if rp.GetDelay() != nil && rp.GetDelay().AsDuration() < 0 {
			return errdefs.InvalidArgument("invalid restart delay %s: must not be negative", rp.GetDelay().AsDuration())
		}
		if rp.GetWindow() != nil && rp.GetWindow().AsDuration() < 0 {
			return errdefs.InvalidArgument("invalid restart window %s: must not be negative", rp.GetWindow().AsDuration())
		}
	}
	if err := validateUpdateConfig("update", spec.GetUpdate()); err != nil {
		return err
	}
	if err := validateUpdateConfig("rollback", spec.GetRollback()); err != nil {
		return err
	}
	if err := validateHealthConfig(ts.GetContainer().GetHealthcheck()); err != nil {
		return err
	}
	if err := validateTaskOptions(spec); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, p := range spec.GetEndpoint().GetPorts() {
		if p.GetTargetPort() == 0 || p.GetTargetPort() > 65535 || p.GetPublishedPort() > 65535 {
			return errdefs.InvalidArgument("invalid port %d:%d: ports must be between 1 and 65535", p.GetPublishedPort(), p.GetTargetPort())
		}
		if p.GetPublishedPort() != 0 {
			k := fmt.Sprintf("%v/%d", p.GetProtocol(), p.GetPublishedPort())
			if seen[k] {
				return errdefs.InvalidArgument("port %d is published twice", p.GetPublishedPort())
			}
			seen[k] = true
		}
	}
	return nil
}

// validateUpdateConfig checks an update or rollback config (what says
// "update" or "rollback" in the message).
func validateUpdateConfig(what string, u *api.UpdateConfig) error {
	if u == nil {
		return nil
	}
	if u.GetDelay().AsDuration() < 0 {
		return errdefs.InvalidArgument("invalid %s delay: must not be negative", what)
	}
	if u.GetMonitor().AsDuration() < 0 {
		return errdefs.InvalidArgument("invalid %s monitor: must not be negative", what)
	}
	if r := u.GetMaxFailureRatio(); r < 0 || r > 1 {
		return errdefs.InvalidArgument("invalid %s max failure ratio %g: must be between 0 and 1", what, r)
	}
	if _, ok := api.UpdateFailureAction_name[int32(u.GetFailureAction())]; !ok {
		return errdefs.InvalidArgument("invalid %s failure action %d", what, u.GetFailureAction())
	}
	if _, ok := api.UpdateOrder_name[int32(u.GetOrder())]; !ok {
		return errdefs.InvalidArgument("invalid %s order %d", what, u.GetOrder())
	}
	return nil
}

// validateHealthConfig checks a health check as docker's daemon does.
func validateHealthConfig(h *api.HealthConfig) error {
	if h == nil {
		return nil
	}
	if len(h.GetTest()) > 0 {
		switch h.GetTest()[0] {
		case "NONE":
		case "CMD", "CMD-SHELL":
			if len(h.GetTest()) < 2 {
				return errdefs.InvalidArgument("invalid health check: %s needs a command", h.GetTest()[0])
			}
		default:
			return errdefs.InvalidArgument("invalid health check test %s: want CMD, CMD-SHELL or NONE", quoteShort(h.GetTest()[0]))
		}
	}
	const minPeriod = time.Millisecond
	for _, d := range []struct {
		name string
		v    interface{ AsDuration() time.Duration }
		set  bool
	}{
		{"interval", h.GetInterval(), h.GetInterval() != nil},
		{"timeout", h.GetTimeout(), h.GetTimeout() != nil},
		{"start period", h.GetStartPeriod(), h.GetStartPeriod() != nil},
		{"start interval", h.GetStartInterval(), h.GetStartInterval() != nil},
	} {
		if !d.set || d.v.AsDuration() == 0 {
			continue
		}
		if d.v.AsDuration() < minPeriod {
			return errdefs.InvalidArgument("invalid health check %s %s: must be at least %s", d.name, d.v.AsDuration(), minPeriod)
		}
	}
	return nil
}
