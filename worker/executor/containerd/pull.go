package containerd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/remotes"
	"github.com/containerd/containerd/remotes/docker"
	"github.com/distribution/reference"

	"github.com/minsw/minsw/internal/registryresolve"
	"github.com/minsw/minsw/worker/executor"
)

// imageRef is an image reference as the user gave it and as containerd
// stores it ("containous/whoami" and "docker.io/containous/whoami:latest").
type imageRef struct {
	user, full, familiar string
}

func parseImageRef(s string) (imageRef, error) {
	named, err := reference.ParseDockerRef(s)
	if err != nil {
		return imageRef{}, fmt.Errorf("%w: invalid reference format: %q: %v", executor.ErrImagePull, s, err)
	}
	return imageRef{user: s, full: named.String(), familiar: reference.FamiliarString(named)}, nil
}

// pullError is a failed pull: its message is the reason a user sees in the
// task's ERROR column; it matches executor.ErrImagePull and the cause.
type pullError struct {
	reason string
	cause  error
}

func (e *pullError) Error() string   { return e.reason }
func (e *pullError) Unwrap() []error { return []error{executor.ErrImagePull, e.cause} }

func newPullError(ref imageRef, err error) error {
	if errdefs.IsNotFound(err) {
		return &pullError{reason: "No such image: " + ref.familiar, cause: err}
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
		return &pullError{reason: fmt.Sprintf("pull %s: registry unreachable: %v", ref.familiar, err), cause: err}
	}
	return &pullError{reason: fmt.Sprintf("pull %s: %v", ref.familiar, err), cause: err}
}

// registries maps a registry host to where containerd fetches from.
type registries struct {
	mirror   *url.URL
	insecure map[string]bool
	client   *http.Client
}

func newRegistries(cfg Config) (*registries, error) {
	r := &registries{insecure: map[string]bool{}}
	if cfg.RegistryMirror != "" {
		u, err := parseMirror(cfg.RegistryMirror)
		if err != nil {
			return nil, err
		}
		r.mirror = u
	}
	for _, h := range cfg.InsecureRegistries {
		r.insecure[h] = true
	}
	r.client = &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
	}}
	return r, nil
}

func (r *registries) resolver(creds *registryresolve.Credentials) remotes.Resolver {
	return docker.NewResolver(docker.ResolverOptions{Hosts: func(host string) ([]docker.RegistryHost, error) { return r.hosts(host, creds) }})
}

// hosts lists where to fetch host's images from: the mirror alone for
// Docker Hub when one is set, otherwise the registry itself. creds (from
// --with-registry-auth) answer the registry's challenge, if given.
func (r *registries) hosts(host string, creds *registryresolve.Credentials) ([]docker.RegistryHost, error) {
	authOpts := []docker.AuthorizerOpt{docker.WithAuthClient(r.client)}
	if creds != nil {
		authOpts = append(authOpts, docker.WithAuthCreds(forHost(creds)))
	}
	auth := docker.NewDockerAuthorizer(authOpts...)
	if host == "docker.io" {
		if r.mirror != nil {
			return []docker.RegistryHost{{
				Client:       r.client,
				Authorizer:   auth,
				Host:         r.mirror.Host,
				Scheme:       r.mirror.Scheme,
				Path:         path.Join("/", r.mirror.Path, "v2"),
				Capabilities: docker.HostCapabilityPull | docker.HostCapabilityResolve,
			}}, nil
		}
		host = "registry-1.docker.io"
	}
	scheme := "https"
	if r.insecure[host] || isLoopback(host) {
		scheme = "http"
	}
	return []docker.RegistryHost{{
		Client:       r.client,
		Authorizer:   auth,
		Host:         host,
		Scheme:       scheme,
		Path:         "/v2",
		Capabilities: docker.HostCapabilityPull | docker.HostCapabilityResolve,
	}}, nil
}

// isLoopback says whether host is on this machine; dockerd trusts
// 127.0.0.0/8 over plain HTTP by default, and so does minsw.
func isLoopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

// Pull makes image available and unpacked; concurrent pulls of one image
// share a single fetch.
func (e *Executor) Pull(ctx context.Context, image string) error {
	_, err := e.image(e.ns(ctx), image)
	return err
}

// image returns the unpacked image, pulling it when missing.
func (e *Executor) image(ctx context.Context, image string) (containerd.Image, error) {
	return e.imageWithAuth(ctx, image, nil)
}

// imageWithAuth is image pulling with creds, if any.
func (e *Executor) imageWithAuth(ctx context.Context, image string, creds *registryresolve.Credentials) (containerd.Image, error) {
	ref, err := parseImageRef(image)
	if err != nil {
		return nil, err
	}
	if img, err := e.localImage(ctx, ref); err == nil {
		return img, nil
	}
	ch := e.pulls.DoChan(ref.full+creds.Key(), func() (any, error) {
		// The fetch serves every waiter, so it does not end with the first
		// caller's context, only with the executor or the pull timeout.
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.PullTimeout)
		defer cancel()
		stop := context.AfterFunc(e.closing, cancel)
		defer stop()
		if img, err := e.localImage(pctx, ref); err == nil {
			return img, nil
		}
		start := time.Now()
		img, err := e.client.Pull(pctx, ref.full,
			containerd.WithResolver(e.registries.resolver(creds)),
			containerd.WithPullUnpack,
			containerd.WithPullSnapshotter(e.cfg.Snapshotter),
		)
		if err != nil {
			return nil, newPullError(ref, err)
		}
		e.log.Info("image pulled", "image", ref.full, "took", time.Since(start))
		return img, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(containerd.Image), nil
	case <-ctx.Done():
		return nil, &pullError{reason: fmt.Sprintf("pull %s: %v", ref.familiar, ctx.Err()), cause: ctx.Err()}
	}
}

// localImage returns the image if it is stored and unpacked.
func (e *Executor) localImage(ctx context.Context, ref imageRef) (containerd.Image, error) {
	img, err := e.client.GetImage(ctx, ref.full)
	if err != nil {
		return nil, err
	}
	ok, err := img.IsUnpacked(ctx, e.cfg.Snapshotter)
	if err != nil {
		return nil, err
	}
	if !ok {
		if err := img.Unpack(ctx, e.cfg.Snapshotter); err != nil {
			return nil, err
		}
	}
	return img, nil
}
