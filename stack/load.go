// Package stack turns compose files into the objects `docker stack deploy`
// makes (networks, secrets, configs and services labelled with the stack's
// namespace) and plans a deploy against what the cluster already holds. It
// owns the compose mapping and the plan; it never talks to a daemon itself:
// the caller hands it the cluster's current objects and applies the plan
// through its own API.
//
// The objects are docker's Engine API types (api/types/swarm, network), so
// a stack deployed by minsw and one deployed by the docker CLI through the
// Engine API are the same objects with the same labels.
package stack

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	composetypes "github.com/compose-spec/compose-go/v2/types"

	"github.com/minsw/minsw/internal/errdefs"
)

// NamespaceLabel is the label docker's stack deploy puts on every object of
// a stack; `stack ls` groups by it.
const NamespaceLabel = "com.docker.stack.namespace"

// ImageLabel records the image as the compose file wrote it, on services.
const ImageLabel = "com.docker.stack.image"

// stackName is docker's rule for stack names (they prefix object names).
var stackName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// ValidateName refuses a stack name docker would refuse.
func ValidateName(name string) error {
	if name == "" {
		return errdefs.InvalidArgument("a stack name is required")
	}
	if !stackName.MatchString(name) || len(name) > 63 {
		return errdefs.InvalidArgument("invalid stack name %q: use letters, digits, '_', '.' and '-', starting with a letter or digit", name)
	}
	return nil
}

// Load reads the compose files as docker stack deploy does, with the compose
// spec's own loader: interpolation from env and from the .env file beside
// the first file, extends, several files merged in order, and validation
// against the schema. env is KEY=VALUE pairs (usually os.Environ()).
func Load(ctx context.Context, name string, files []string, env []string) (*composetypes.Project, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, errdefs.InvalidArgument("please specify a compose file (with --compose-file)")
	}
	workdir := filepath.Dir(files[0])
	opts, err := cli.NewProjectOptions(files,
		cli.WithWorkingDirectory(workdir),
		cli.WithEnv(env),
		cli.WithDotEnv,
		cli.WithName(strings.ToLower(name)),
		cli.WithResolvedPaths(true),
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		// compose's own consistency rules (container_name with replicas,
		// depends_on targets) are about keys a stack ignores; Convert checks
		// the references a stack uses.
		cli.WithConsistency(false),
	)
	if err != nil {
		return nil, errdefs.InvalidArgument("compose file: %w", err)
	}
	p, err := opts.LoadProject(ctx)
	if err != nil {
		return nil, errdefs.InvalidArgument("%s", oneLine(err.Error()))
	}
	// The loader lower-cases the project name for compose's sake; a stack
	// keeps the name the user gave, as docker's does.
	p.Name = name
	return p, nil
}

// oneLine folds a loader message onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
