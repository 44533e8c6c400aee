package netagent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/minsw/minsw/netdriver"
	"github.com/minsw/minsw/netdriver/dns"
	"github.com/minsw/minsw/netdriver/ingress"
	"github.com/minsw/minsw/netdriver/lb"
	"github.com/minsw/minsw/netdriver/netns"
)

// Dataplane is what the netagent asks of the node's kernel networking:
// *netdriver.Driver implements it, and a fake (netdriver/fakenet) lets the
// netagent's logic run in unit tests without root.
type Dataplane interface {
	Backend() (name, reason string)
	NetnsDir() string
	Inspect(ctx context.Context) ([]netdriver.NetworkInfo, error)
	Reconcile(ctx context.Context, want []netdriver.Network) error
	EnsureNetwork(ctx context.Context, n netdriver.Network) error
	RemoveNetwork(ctx context.Context, id string) error
	Attach(ctx context.Context, ep netdriver.Endpoint) error
	Detach(ctx context.Context, networkID, containerID string) error
	SetPeers(ctx context.Context, networkID string, peers []netdriver.Peer) error
	SetServices(ctx context.Context, networkID string, svcs []lb.Service) error
	AttachEgress(ctx context.Context, ep netdriver.EgressEndpoint) error
	DetachEgress(ctx context.Context, containerID string) error
	IngressSboxAddr() netip.Prefix
	EnsureIngress(ctx context.Context, n netdriver.Network) error
	RemoveIngress(ctx context.Context, id string) error
	SetPublished(ctx context.Context, marks []ingress.PortMark, host []ingress.Publish) error
	SetTaskRedirects(ctx context.Context, nsPath string, addr netip.Addr, rs []ingress.Redirect) error
	Close() error
}

var _ Dataplane = (*netdriver.Driver)(nil)

// Sandboxes makes and removes the task containers' namespaces, as files
// under a directory.
type Sandboxes interface {
	// Ensure makes the namespace name under dir unless it is there, with
	// IPv6 off, and returns its path.
	Ensure(dir, name string) (string, error)
	Delete(path string) error
	List(dir string) ([]string, error)
	// EgressAddr is the gateway-bridge address the namespace at path
	// already has (after a daemon restart), if any.
	EgressAddr(path string, subnet netip.Prefix) (netip.Prefix, bool)
}

// Resolver serves the embedded DNS inside task namespaces: *dns.Server.
type Resolver interface {
	Attach(ctx context.Context, netnsPath, containerID string, scope dns.Scope) error
	Detach(containerID string) error
	Close() error
}

// kernelSandboxes are real namespaces (netns), made as `ip netns add` does.
type kernelSandboxes struct{}

func (kernelSandboxes) Ensure(dir, name string) (string, error) {
	path := filepath.Join(dir, name)
	if netns.IsNetns(path) {
		return path, nil
	}
	if _, err := netns.Create(dir, name); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("netagent: container namespace: %w", err)
	}
	if err := netns.Do(path, disableIPv6); err != nil {
		return "", fmt.Errorf("netagent: container namespace: %w", err)
	}
	return path, nil
}

func (kernelSandboxes) Delete(path string) error          { return netns.Delete(path) }
func (kernelSandboxes) List(dir string) ([]string, error) { return netns.List(dir) }
func (kernelSandboxes) EgressAddr(path string, subnet netip.Prefix) (netip.Prefix, bool) {
	return egressAddr(path, subnet)
}
