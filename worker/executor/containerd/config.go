package containerd

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/containerd/identifiers"
)

// Config is how one node's executor reaches containerd and registries.
type Config struct {
	// Address is containerd's gRPC socket.
	Address string
	// Namespace is the containerd namespace holding this node's containers;
	// one per node name, so several nodes can share one containerd.
	Namespace string
	// Snapshotter unpacks images and makes containers' root filesystems.
	Snapshotter string
	// Runtime is the containerd runtime (shim) containers run with.
	Runtime string
	// RegistryMirror ("http://HOST:PORT") serves Docker Hub names, as
	// dockerd's registry-mirrors: containous/whoami is fetched from
	// HOST:PORT/v2/containous/whoami. With a mirror, Docker Hub itself is
	// never contacted.
	RegistryMirror string
	// InsecureRegistries ("HOST:PORT") are reached over plain HTTP, as are
	// loopback registries.
	InsecureRegistries []string
	// StateDir keeps, per container, the generated resolv.conf, hosts and
	// hostname files and the log file.
	StateDir string
	// DialTimeout bounds the connection to containerd at New.
	DialTimeout time.Duration
	// PullTimeout bounds one image pull.
	PullTimeout time.Duration
	// LogPollInterval is how often Logs with Follow looks for new output.
	LogPollInterval time.Duration
	// LogBinary is the program containerd starts as the log writer of
	// containers with --tty or a rotating log (the minsw binary, which
	// plays it when given LogWriterFlag); "" refuses such containers.
	LogBinary string
	// Logger receives the executor's logs; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig is a node named namespace using the system containerd.
func DefaultConfig(namespace string) Config {
	return Config{
		Address:         "/run/containerd/containerd.sock",
		Namespace:       namespace,
		Snapshotter:     "overlayfs",
		Runtime:         "io.containerd.runc.v2",
		StateDir:        filepath.Join("/var/lib/minsw/containers", namespace),
		DialTimeout:     5 * time.Second,
		PullTimeout:     5 * time.Minute,
		LogPollInterval: 100 * time.Millisecond,
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.Address == "" {
		errs = append(errs, errors.New("containerd address is empty"))
	}
	if err := identifiers.Validate(c.Namespace); err != nil {
		errs = append(errs, fmt.Errorf("containerd namespace %q: %w", c.Namespace, err))
	}
	if c.Snapshotter == "" {
		errs = append(errs, errors.New("snapshotter is empty"))
	}
	if c.Runtime == "" {
		errs = append(errs, errors.New("runtime is empty"))
	}
	if c.RegistryMirror != "" {
		if _, err := parseMirror(c.RegistryMirror); err != nil {
			errs = append(errs, err)
		}
	}
	for _, h := range c.InsecureRegistries {
		if err := validHostPort(h); err != nil {
			errs = append(errs, fmt.Errorf("insecure registry %q: %w", h, err))
		}
	}
	if !filepath.IsAbs(c.StateDir) {
		errs = append(errs, fmt.Errorf("state dir %q is not an absolute path", c.StateDir))
	}
	if c.DialTimeout <= 0 || c.PullTimeout <= 0 || c.LogPollInterval <= 0 {
		errs = append(errs, errors.New("timeouts and intervals must be positive"))
	}
	return errors.Join(errs...)
}

func parseMirror(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("registry mirror %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("registry mirror %q: want http://HOST[:PORT] or https://HOST[:PORT]", s)
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("registry mirror %q: want http://HOST[:PORT] or https://HOST[:PORT]", s)
	}
	return u, nil
}

func validHostPort(s string) error {
	if s == "" || strings.ContainsAny(s, "/ ") {
		return errors.New("want HOST[:PORT]")
	}
	if strings.Contains(s, ":") {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return err
		}
	}
	return nil
}
