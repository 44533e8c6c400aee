package controlapi

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

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
		return errdefs.InvalidArgument("invalid %s name %q: longer than %d characters", kind, n, maxNameLen)
	}
	if !nameRE.MatchString(n) {
		return errdefs.InvalidArgument("invalid %s name %q: it must start with a letter or digit and contain only letters, digits, '-' and '_' (pattern %s)", kind, n, nameRE.String())
	}
	return nil
}

// ValidateImage checks an image reference as docker parses one.
func ValidateImage(ref string) error {
	if ref == "" {
		return errdefs.InvalidArgument("no image given")
	}
	if _, err := name.ParseReference(ref, name.WeakValidation); err != nil {
		return errdefs.InvalidArgument("invalid image reference %q: %v", ref, err)
	}
	return nil
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
		return errdefs.InvalidArgument("service %s has no mode: want replicated or global", spec.GetName())
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
			return errdefs.InvalidArgument("invalid environment variable %q: want KEY=VALUE", e)
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
	if u := spec.GetUpdate(); u != nil && u.GetDelay() != nil && u.GetDelay().AsDuration() < 0 {
		return errdefs.InvalidArgument("invalid update delay: must not be negative")
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
