// Package engineapi serves the Docker Engine API's swarm subset (HTTP + JSON
// on a unix socket) so the real docker CLI, `docker stack` and the docker
// SDKs drive minsw. Every handler is a thin translation (engineapi/convert)
// onto the same local gRPC API the minsw CLI calls: no cluster logic lives
// here. Errors carry an errdefs kind and are turned into an HTTP status
// with docker's {"message": ...} body in one place (errors.go).
package engineapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/versions"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/internal/registryresolve"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// APIVersion is the Engine API version served; docker's clients negotiate
// down to it. MinAPIVersion is the oldest accepted in a versioned path.
const (
	APIVersion    = "1.47"
	MinAPIVersion = "1.24"
)

// MaxBodyBytes bounds a request body (service specs are a few KB).
const MaxBodyBytes = 2 << 20

// Backend is the local daemon's API the handlers call: the very clients
// the minsw CLI uses.
type Backend struct {
	Control    api.ControlClient
	Swarm      api.SwarmClient
	Containers api.ContainersClient
	Networks   api.NetworksClient
	Volumes    api.VolumesClient
}

// Config configures a Server.
type Config struct {
	Backend Backend
	// EngineVersion is what /version reports as the engine's.
	EngineVersion string
	// Hostname is the node's name (/info Name).
	Hostname string
	// ExecRoot is shown as /info's DockerRootDir.
	ExecRoot string
	// Images looks images up in their registries (GET /distribution);
	// nil answers that this node does not.
	Images ImageResolver
	Logger *slog.Logger
}

// ImageResolver looks an image up in its registry (the descriptor its name
// points to now, and the platforms it is built for), with the user's
// login when given one, and checks a login (docker login).
type ImageResolver interface {
	Resolve(ctx context.Context, image string, creds *registryresolve.Credentials) (ocispec.Descriptor, []ocispec.Platform, error)
	Login(ctx context.Context, creds registryresolve.Credentials) error
}

// Server is the Engine API's HTTP handler.
type Server struct {
	cfg Config
	b   Backend
	log *slog.Logger
	mux *http.ServeMux

	execs    execStore
	eventLog *eventLog
	lists    listCache
	// base is the context Serve runs under: hijacked streams outlive their
	// request's context (net/http cancels it when the client half-closes).
	base context.Context
}

// New builds the handler.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, b: cfg.Backend, log: cfg.Logger.With("api", "engine"), mux: http.NewServeMux(), base: context.Background(), eventLog: newEventLog()}
	s.routes()
	return s
}

// handler is a route's function: it writes a success answer itself and
// returns errors for the edge to map.
type handler func(w http.ResponseWriter, r *http.Request) error

func (s *Server) handle(pattern string, h handler) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Server) routes() {
	s.handle("GET /_ping", s.ping)
	s.handle("HEAD /_ping", s.ping)
	s.handle("GET /version", s.version)
	s.handle("GET /info", s.info)

	s.handle("GET /swarm", s.swarmInspect)
	s.handle("POST /swarm/init", s.swarmInit)
	s.handle("POST /swarm/join", s.swarmJoin)
	s.handle("POST /swarm/leave", s.swarmLeave)
	s.handle("POST /swarm/update", s.swarmUpdate)
	s.handle("POST /swarm/unlock", s.swarmUnlock)
	s.handle("GET /swarm/unlockkey", s.swarmUnlockKey)

	s.handle("GET /nodes", s.nodeList)
	s.handle("GET /nodes/{id}", s.nodeInspect)
	s.handle("POST /nodes/{id}/update", s.nodeUpdate)
	s.handle("DELETE /nodes/{id}", s.nodeRemove)

	s.handle("GET /services", s.serviceList)
	s.handle("POST /services/create", s.serviceCreate)
	s.handle("GET /services/{id}", s.serviceInspect)
	s.handle("POST /services/{id}/update", s.serviceUpdate)
	s.handle("DELETE /services/{id}", s.serviceRemove)
	s.handle("GET /services/{id}/logs", s.serviceLogs)

	s.handle("GET /tasks", s.taskList)
	s.handle("GET /tasks/{id}", s.taskInspect)
	s.handle("GET /tasks/{id}/logs", s.taskLogs)

	s.handle("GET /networks", s.networkList)
	s.handle("GET /networks/{id}", s.networkInspect)
	s.handle("POST /networks/create", s.networkCreate)
	s.handle("DELETE /networks/{id}", s.networkRemove)
	s.handle("POST /networks/prune", s.networkPrune)

	s.secretKind().routes(s)
	s.configKind().routes(s)

	s.handle("GET /containers/json", s.containerList)
	s.handle("GET /containers/{id}/json", s.containerInspect)
	s.handle("GET /containers/{id}/logs", s.containerLogs)
	s.handle("GET /containers/{id}/top", s.containerTop)
	s.handle("GET /containers/{id}/stats", s.containerStats)
	s.handle("GET /system/df", s.systemDF)
	s.handle("POST /containers/{id}/exec", s.execCreate)
	s.handle("POST /containers/create", s.containerNotTask)
	s.handle("POST /containers/{id}/stop", s.containerStop)
	s.handle("POST /containers/{id}/kill", s.containerKill)
	s.handle("DELETE /containers/{id}", s.containerRemove)
	s.handle("POST /containers/prune", s.containerPrune)
	s.handle("POST /containers/{id}/wait", s.containerWait)
	s.handle("POST /exec/{id}/start", s.execStart)
	s.handle("POST /exec/{id}/resize", s.execResize)
	s.handle("GET /exec/{id}/json", s.execInspect)

	s.handle("GET /volumes", s.volumeList)
	s.handle("GET /volumes/{name}", s.volumeInspect)
	s.handle("POST /volumes/create", s.volumeCreate)
	s.handle("DELETE /volumes/{name}", s.volumeRemove)
	s.handle("POST /volumes/prune", s.volumePrune)

	s.handle("GET /events", s.events)

	s.handle("GET /distribution/{name...}", s.distributionInspect)
	s.handle("POST /auth", s.registryLogin)
	s.handle("GET /images/{name...}", s.imageInspect)
	s.handle("GET /plugins/{name...}", s.pluginInspect)

	// Anything else is a part of docker minsw does not serve.
	s.handle("/", s.notImplemented)
}

var versionPrefix = regexp.MustCompile(`^/v([0-9]+\.[0-9]+)(/.*)$`)

type ctxKey struct{}

// requestVersion is the API version of the request (its path's, else the
// server's).
func requestVersion(r *http.Request) string {
	if v, ok := r.Context().Value(ctxKey{}).(string); ok {
		return v
	}
	return APIVersion
}

// ServeHTTP strips a /v1.NN prefix (checking the version), bounds the
// body and adds the headers docker's clients read on every answer.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Api-Version", APIVersion)
	h.Set("Docker-Experimental", "false")
	h.Set("Ostype", "linux")
	h.Set("Server", "minsw/"+s.cfg.EngineVersion+" (linux)")
	if m := versionPrefix.FindStringSubmatch(r.URL.Path); m != nil {
		v := m[1]
		switch {
		case versions.GreaterThan(v, APIVersion):
			s.writeError(w, r, errdefs.InvalidArgument("client version %s is too new. Maximum supported API version is %s", v, APIVersion))
			return
		case versions.LessThan(v, MinAPIVersion):
			s.writeError(w, r, errdefs.InvalidArgument("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", v, MinAPIVersion))
			return
		}
		r2 := r.Clone(context.WithValue(r.Context(), ctxKey{}, v))
		r2.URL.Path = m[2]
		r2.URL.RawPath = ""
		r = r2
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) notImplemented(w http.ResponseWriter, r *http.Request) error {
	return errdefs.Unimplemented("minsw does not implement %s %s of the Docker Engine API (minsw serves the swarm subset: swarm, nodes, services, tasks, networks, secrets, configs, this node's containers and volumes)", r.Method, r.URL.Path)
}

// ---- request helpers ----

// decode reads a JSON body into v; a body over MaxBodyBytes or not JSON
// is a 400/413 with a one-line reason.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return errTooLarge
		case errors.Is(err, io.EOF):
			return errdefs.InvalidArgument("invalid JSON: the request body is empty")
		}
		return errdefs.InvalidArgument("invalid JSON: %v", err)
	}
	// Drain so a body that goes on past its first value is still bounded.
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errTooLarge
		}
	}
	return nil
}

var errTooLarge = &statusError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("request body is larger than the %d MiB minsw accepts", MaxBodyBytes>>20)}

func boolValue(r *http.Request, key string) bool {
	v := strings.ToLower(strings.TrimSpace(r.URL.Query().Get(key)))
	return !(v == "" || v == "0" || v == "no" || v == "false" || v == "none")
}

func uintValue(r *http.Request, key string) (uint64, error) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, errdefs.InvalidArgument("invalid %s %q: want a non-negative integer", key, v)
	}
	return n, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// ---- serving ----

// ListenUnix opens the Engine API socket at path, 0660 like
// /var/run/docker.sock, replacing a stale one.
func ListenUnix(path string) (net.Listener, error) {
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("engine API: listening on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Serve answers on every listener until ctx ends; open streams (logs,
// events, exec) end with it.
func (s *Server) Serve(ctx context.Context, ls ...net.Listener) error {
	s.base = ctx
	go s.eventLog.run(ctx, s.b.Control)
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, len(ls))
	for _, l := range ls {
		go func() { errc <- srv.Serve(l) }()
	}
	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	_ = srv.Close()
	for range ls[:len(ls)-1+boolInt(first == nil)] {
		<-errc
	}
	if first != nil && !errors.Is(first, http.ErrServerClosed) {
		return first
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ServerTLS is the TLS configuration of a TCP listener: the server's
// certificate, and only clients with a certificate signed by the CA.
func ServerTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("engine API: loading the TLS certificate: %w", err)
	}
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("engine API: reading the CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("engine API: no certificate in %s", caFile)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}, nil
}
