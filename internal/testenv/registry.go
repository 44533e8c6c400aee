package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// RegistryOptions tunes a registry.
type RegistryOptions struct {
	// BlobDir keeps blobs on disk under this directory; "" keeps them in
	// memory. Manifests are always in memory.
	BlobDir string
	// Log receives one line per request; nil discards them.
	Log io.Writer
	// User and Password, when User is set, make a private registry: a
	// request without that basic-auth login is refused with 401 and a
	// WWW-Authenticate challenge, as a registry wanting `docker login` does.
	User, Password string
}

// RegistryHandler is go-containerregistry's registry (the OCI distribution
// API) as an http.Handler, behind a basic-auth login if opts names one.
func RegistryHandler(opts RegistryOptions) http.Handler {
	h := registryHandler(opts)
	if opts.User == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != opts.User || p != opts.Password {
			w.Header().Set("WWW-Authenticate", `Basic realm="private"`)
			http.Error(w, "login required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func registryHandler(opts RegistryOptions) http.Handler {
	w := opts.Log
	if w == nil {
		w = io.Discard
	}
	ropts := []registry.Option{registry.Logger(log.New(w, "registry: ", log.LstdFlags))}
	if opts.BlobDir != "" {
		ropts = append(ropts, registry.WithBlobHandler(registry.NewDiskBlobHandler(opts.BlobDir)))
	}
	return registry.New(ropts...)
}

// ServeRegistry serves a registry on l until ctx ends, then closes l. It is
// what the lab runs inside its registry namespace.
func ServeRegistry(ctx context.Context, l net.Listener, opts RegistryOptions) error {
	srv := &http.Server{Handler: RegistryHandler(opts), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		// Close, not Shutdown: a registry has no request worth waiting for,
		// and Shutdown waits 5s for clients' unused keep-alive connections.
		_ = srv.Close()
	}()
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if ctx.Err() != nil {
		<-done
	}
	return err
}

// Registry is a registry serving on a loopback port.
type Registry struct {
	// Host is "127.0.0.1:PORT", the registry part of image references and
	// the value for an insecure-registry setting.
	Host string
	// URL is "http://127.0.0.1:PORT", the value for a registry-mirror setting.
	URL string

	cancel context.CancelFunc
	done   chan error
}

// StartRegistry serves a registry on 127.0.0.1 at a free port.
func StartRegistry(opts RegistryOptions) (*Registry, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("registry listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Registry{
		Host:   l.Addr().String(),
		URL:    "http://" + l.Addr().String(),
		cancel: cancel,
		done:   make(chan error, 1),
	}
	go func() { r.done <- ServeRegistry(ctx, l, opts) }()
	return r, nil
}

// Close stops the registry and waits for it.
func (r *Registry) Close() error {
	r.cancel()
	return <-r.done
}

// NewRegistry starts a registry for the test and stops it when the test ends.
func NewRegistry(t testing.TB) *Registry {
	t.Helper()
	r, err := StartRegistry(RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("registry: %v", err)
		}
	})
	return r
}

// FreeAddr returns a loopback address nothing listens on, for tests of a
// registry that is down.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
