// Package lab builds and tears down the three-node minsw lab on one machine:
// a bridge with no address in the root namespace, one network namespace per
// node (swarm-manager, swarm-worker1, swarm-worker2) and one for the lab
// registry on the underlay 192.168.56.0/24 with no route out, one shared
// containerd, the registry serving the lab images, and one `minsw daemon` per
// node started by provision.sh (the steps the Vagrantfile runs in its VMs).
//
// Everything it starts it records (lab.json under the lab directory) and
// stops by PID; Down removes namespaces, links, mounts and the directory.
// It shells out to ip(8) and nsenter(1): this is lab tooling, not product
// code. Daemons run in their node's network namespace only (nsenter --net),
// not in a mount namespace of their own as `ip netns exec` would give them,
// so the netns files they bind-mount under their exec root are visible to
// the lab's `ls` and `nsenter` from the root namespace.
package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Node is one lab machine: a network namespace with one leg on the bridge.
type Node struct {
	Name  string // swarm-manager; also the daemon's --node-name
	IP    string // underlay address, 192.168.56.10
	Netns string // network namespace name under /run/netns
	Veth  string // the root-namespace end of its link to the bridge
}

// Config describes a lab.
type Config struct {
	// Dir holds everything the lab makes on disk: containerd's state, each
	// node's data and exec roots and logs, the registry's log, lab.json.
	Dir string
	// Repo is the module's root (for provision.sh and building whoami).
	Repo string
	// Minsw is the minsw binary the daemons and the CLI run.
	Minsw string
	// Labctl is the binary serving the registry (`labctl registry`).
	Labctl string
	// Bridge is the underlay bridge in the root namespace.
	Bridge string
	// Nodes are the swarm nodes, the manager first.
	Nodes []Node
	// Registry is the registry's namespace; it serves on Registry.IP:5000.
	Registry Node
	// DaemonFlags are added to every `minsw daemon`.
	DaemonFlags []string
	// VerifySeconds shortens the CLI's 5 s convergence check (MINSW_VERIFY_SECONDS).
	VerifySeconds string
}

// Underlay is the lab's node network; it has no gateway.
const Underlay = "192.168.56.0/24"

// RegistryPort is where the lab registry listens.
const RegistryPort = "5000"

// DefaultDir is where `make lab` keeps its lab.
const DefaultDir = "/var/lib/minsw-lab"

// Default is the lab `make lab` brings up: the seed's node names as the
// namespace names, bridge minsw-lab0.
func Default(repo string) Config {
	return Config{
		Dir:    DefaultDir,
		Repo:   repo,
		Minsw:  filepath.Join(repo, "bin", "minsw"),
		Bridge: "minsw-lab0",
		Nodes: []Node{
			{Name: "swarm-manager", IP: "192.168.56.10", Netns: "swarm-manager", Veth: "mlab-manager"},
			{Name: "swarm-worker1", IP: "192.168.56.11", Netns: "swarm-worker1", Veth: "mlab-worker1"},
			{Name: "swarm-worker2", IP: "192.168.56.12", Netns: "swarm-worker2", Veth: "mlab-worker2"},
		},
		Registry: Node{Name: "minsw-registry", IP: "192.168.56.5", Netns: "minsw-registry", Veth: "mlab-registry"},
		// A node is marked down after 3 missed heartbeats: 1 s instead of
		// Swarm's 5 s lets the fault tests see a recovery in seconds.
		DaemonFlags:   []string{"--heartbeat-period", "1s"},
		VerifySeconds: "", // docker's 5 s, as the seed shows it
	}
}

// Prefixed is Default with every namespace and link name made unique by tag
// (a few characters), so a test lab can run next to `make lab`'s. The node
// names and addresses stay the seed's: only root-namespace names must differ.
func Prefixed(repo, dir, tag string) Config {
	c := Default(repo)
	c.Dir = dir
	c.Bridge = "mlb" + tag
	for i := range c.Nodes {
		c.Nodes[i].Netns = "minsw-" + tag + "-" + c.Nodes[i].Name
		c.Nodes[i].Veth = fmt.Sprintf("ml%s%c%c", tag, 'm', '0'+i)
	}
	c.Registry.Netns = "minsw-" + tag + "-registry"
	c.Registry.Veth = "ml" + tag + "r"
	return c
}

// Manager is the node that runs `swarm init`.
func (c Config) Manager() Node { return c.Nodes[0] }

// NodeByName finds a node; ok is false for an unknown name.
func (c Config) NodeByName(name string) (Node, bool) {
	for _, n := range c.Nodes {
		if n.Name == name || n.Netns == name {
			return n, true
		}
	}
	if name == c.Registry.Name || name == c.Registry.Netns {
		return c.Registry, true
	}
	return Node{}, false
}

// Per-node paths.
func (c Config) NodeDir(n Node) string  { return filepath.Join(c.Dir, n.Name) }
func (c Config) DataRoot(n Node) string { return filepath.Join(c.NodeDir(n), "data") }
func (c Config) ExecRoot(n Node) string { return filepath.Join(c.NodeDir(n), "run") }
func (c Config) DaemonLog(n Node) string {
	return filepath.Join(c.NodeDir(n), "daemon.log")
}
func (c Config) DaemonPidfile(n Node) string {
	return filepath.Join(c.NodeDir(n), "daemon.pid")
}

// Host is the MINSW_HOST value that reaches node n's daemon.
func (c Config) Host(n Node) string { return "unix://" + filepath.Join(c.ExecRoot(n), "minsw.sock") }

// DockerHost is DOCKER_HOST for n: its daemon's Docker Engine API socket.
func (c Config) DockerHost(n Node) string {
	return "unix://" + filepath.Join(c.ExecRoot(n), "docker.sock")
}

// NetnsPath is the file of node n's network namespace.
func NetnsPath(n Node) string { return filepath.Join("/run/netns", n.Netns) }

func (c Config) containerdDir() string  { return filepath.Join(c.Dir, "containerd") }
func (c Config) ContainerdSock() string { return filepath.Join(c.containerdDir(), "containerd.sock") }
func (c Config) statePath() string      { return filepath.Join(c.Dir, "lab.json") }
func (c Config) registryURL() string    { return "http://" + c.Registry.IP + ":" + RegistryPort }

// ContainerdNamespace is where node n's daemon keeps its containers.
func ContainerdNamespace(n Node) string { return "minsw-" + n.Name }

// State is what a running lab records in lab.json, so that `down` (another
// process, maybe much later) stops exactly what `up` started.
type State struct {
	Config        Config
	ContainerdPid int
	RegistryPid   int
	Started       time.Time
}

func (c Config) writeState(s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(c.statePath(), b, 0o644)
}

// LoadState reads a running lab's record from dir.
func LoadState(dir string) (State, error) {
	var s State
	b, err := os.ReadFile(filepath.Join(dir, "lab.json"))
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w", filepath.Join(dir, "lab.json"), err)
	}
	return s, nil
}

// Lab is a running lab.
type Lab struct {
	Config
	State State
	// Log receives the narration of what the lab does (section titles, the
	// commands and their output, timings).
	Log io.Writer
}

// ErrRunning says a lab already lives in the directory.
var ErrRunning = errors.New("a lab is already up there (lab.sh down first)")

// Up builds the whole lab: topology, containerd, registry with the images,
// daemons, swarm init and joins. On error it tears down what it made.
func Up(ctx context.Context, cfg Config, log io.Writer) (l *Lab, err error) {
	if _, err := os.Stat(cfg.statePath()); err == nil {
		return nil, fmt.Errorf("%s: %w", cfg.Dir, ErrRunning)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	l = &Lab{Config: cfg, Log: log, State: State{Config: cfg, Started: time.Now()}}
	if err := cfg.writeState(l.State); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			fmt.Fprintf(log, "lab: up failed (%v); tearing down\n", err)
			if derr := Down(context.Background(), cfg.Dir, log); derr != nil {
				fmt.Fprintf(log, "lab: down: %v\n", derr)
			}
			l = nil
		}
	}()
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"network namespaces and bridge", l.topology},
		{"containerd", l.startContainerd},
		{"registry with the lab images", l.startRegistry},
		{"minsw daemons", l.startDaemons},
		{"swarm init and join", l.initJoin},
	}
	for _, s := range steps {
		t0 := time.Now()
		if err := s.fn(ctx); err != nil {
			return l, fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Fprintf(log, "lab: %-32s %6.2fs\n", s.name, time.Since(t0).Seconds())
	}
	return l, nil
}

// Open attaches to the lab running in dir.
func Open(dir string, log io.Writer) (*Lab, error) {
	s, err := LoadState(dir)
	if err != nil {
		return nil, err
	}
	return &Lab{Config: s.Config, State: s, Log: log}, nil
}
