// Package registryresolve looks an image name up in its registry: the
// digest its tag points to and the platforms it is built for, what docker's
// `GET /distribution/{name}/json` answers so `docker service create` pins
// the image. Docker Hub names are looked up only through the node's
// registry mirror (as the node pulls them); it never contacts Docker Hub.
package registryresolve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/minsw/minsw/internal/errdefs"
)

// Config says where images are looked up.
type Config struct {
	// Mirror ("http://HOST:PORT") serves Docker Hub names; without one,
	// Docker Hub names are not looked up.
	Mirror string
	// Insecure are registries reached over plain HTTP (HOST:PORT);
	// loopback ones always are, as dockerd trusts them.
	Insecure []string
	// Timeout bounds one lookup (10 s when 0).
	Timeout time.Duration
}

// Resolver looks images up.
type Resolver struct {
	cfg      Config
	mirror   *url.URL
	insecure map[string]bool
	rt       http.RoundTripper
}

// New checks cfg.
func New(cfg Config) (*Resolver, error) {
	r := &Resolver{cfg: cfg, insecure: map[string]bool{}, rt: remote.DefaultTransport}
	if cfg.Mirror != "" {
		u, err := url.Parse(cfg.Mirror)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("registry mirror %q: want http://HOST[:PORT] or https://HOST[:PORT]", cfg.Mirror)
		}
		r.mirror = u
	}
	for _, h := range cfg.Insecure {
		r.insecure[h] = true
	}
	if r.cfg.Timeout == 0 {
		r.cfg.Timeout = 10 * time.Second
	}
	return r, nil
}

// where is the reference to ask for image: the mirror's copy of a Docker
// Hub name, else the name itself.
func (r *Resolver) where(image string) (name.Reference, error) {
	ref, err := name.ParseReference(image)
	if err != nil {
		return nil, errdefs.InvalidArgument("invalid image name %q: %v", image, err)
	}
	reg := ref.Context().RegistryStr()
	if reg == name.DefaultRegistry {
		if r.mirror == nil {
			return nil, errdefs.Unimplemented("minsw looks Docker Hub images up only through a registry mirror (minsw daemon --registry-mirror); each node pulls %s itself", image)
		}
		var opts []name.Option
		if r.mirror.Scheme == "http" {
			opts = append(opts, name.Insecure)
		}
		repo := r.mirror.Host + strings.TrimSuffix(r.mirror.Path, "/") + "/" + ref.Context().RepositoryStr()
		return name.ParseReference(repo+sep(ref)+ref.Identifier(), opts...)
	}
	if r.insecure[reg] || isLoopback(reg) {
		return name.ParseReference(image, name.Insecure)
	}
	return ref, nil
}

func sep(ref name.Reference) string {
	if _, ok := ref.(name.Digest); ok {
		return "@"
	}
	return ":"
}

func isLoopback(host string) bool {
	h := host
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	return h == "localhost" || strings.HasPrefix(h, "127.") || h == "[::1]"
}

// Resolve returns image's descriptor (the digest its tag names now) and
// its platforms, looked up with creds (--with-registry-auth; nil for
// none), which go only to the registry they were given for. A registry's
// refusal is reported in its words with an errdefs kind (NotFound for an
// unknown image or tag, PermissionDenied...).
func (r *Resolver) Resolve(ctx context.Context, image string, creds *Credentials) (ocispec.Descriptor, []ocispec.Platform, error) {
	ref, err := r.where(image)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	desc, err := remote.Get(ref, remote.WithContext(ctx), remote.WithTransport(r.rt), remote.WithAuth(creds.authenticator(ref.Context().RegistryStr())))
	if err != nil {
		return ocispec.Descriptor{}, nil, registryError(image, err)
	}
	out := ocispec.Descriptor{MediaType: string(desc.MediaType), Digest: toDigest(desc.Digest), Size: desc.Size}
	var platforms []ocispec.Platform
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return ocispec.Descriptor{}, nil, registryError(image, err)
		}
		m, err := idx.IndexManifest()
		if err != nil {
			return ocispec.Descriptor{}, nil, registryError(image, err)
		}
		for _, d := range m.Manifests {
			if p := d.Platform; p != nil && p.OS != "unknown" {
				platforms = append(platforms, ocispec.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant})
			}
		}
		return out, platforms, nil
	}
	img, err := desc.Image()
	if err != nil {
		return ocispec.Descriptor{}, nil, registryError(image, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return ocispec.Descriptor{}, nil, registryError(image, err)
	}
	if cf.OS != "" {
		platforms = append(platforms, ocispec.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant})
	}
	return out, platforms, nil
}

func toDigest(h v1.Hash) digest.Digest { return digest.Digest(h.String()) }

// registryError gives a registry's answer an errdefs kind.
func registryError(image string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusNotFound:
			return errdefs.NotFound("image %s not found in its registry", image)
		case http.StatusUnauthorized, http.StatusForbidden:
			return errdefs.PermissionDenied("the registry refused to show image %s (%d): log in, or pass --with-registry-auth", image, te.StatusCode)
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errdefs.Unavailable("the registry of %s did not answer in time", image)
	}
	return errdefs.Unavailable("looking %s up in its registry: %v", image, err)
}
