// Package daemon holds `minsw daemon`: its flags, validated once into the
// node's configuration, and the run of the node until a signal.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/minsw/minsw/manager/raftnode"
	"github.com/minsw/minsw/netdriver"
	"github.com/minsw/minsw/node"
	"github.com/minsw/minsw/worker/executor"
	"github.com/minsw/minsw/worker/executor/containerd"
	"github.com/minsw/minsw/worker/executor/fake"
	"github.com/minsw/minsw/worker/netagent"
)

// daemonOptions are `minsw daemon`'s flags.
type daemonOptions struct {
	nodeName, dataRoot, execRoot string
	advertiseAddr, listenAddr    string
	executor, containerdAddr     string
	registryMirror               string
	insecureRegistries           []string
	heartbeat                    time.Duration
	raftHeartbeat                time.Duration
	logLevel                     string
	lbBackend                    string
	gossipPort                   int
	dnsUpstreams                 []string
	dockerSocket                 string
	docker                       dockerTCPOptions
	engine                       engineOptions
	raftSnapshot                 raftSnapshotOptions
	pprof                        pprofOptions
	fakeState                    fakeStateOptions
}

// NewCommand is `minsw daemon`.
func NewCommand() *cobra.Command {
	o := &daemonOptions{}
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the minsw node daemon",
		Long: "Run a minsw node: the local API on a unix socket in the exec root, and, once the\n" +
			"node is in a swarm, its manager (on managers) and its worker agent.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.dockerSocket = dockerSocketPath(cmd, o)
			return runDaemon(cmd.Context(), o)
		},
	}
	addDockerSocketFlag(cmd, o)
	f := cmd.Flags()
	f.StringVar(&o.nodeName, "node-name", "", "Name this node reports (default: the host name)")
	f.StringVar(&o.dataRoot, "data-root", "/var/lib/minsw", "Where the node keeps its persistent state")
	f.StringVar(&o.execRoot, "exec-root", "/var/run/minsw", "Where the node keeps its runtime state (socket, netns)")
	f.StringVar(&o.advertiseAddr, "advertise-addr", "", "Default address advertised to other nodes")
	f.StringVar(&o.listenAddr, "listen-addr", node.DefaultListenAddr, "Default cluster listen address")
	f.StringVar(&o.executor, "executor", "containerd", "Task runtime: containerd, or fake (in-memory, no containers)")
	f.StringVar(&o.containerdAddr, "containerd", "/run/containerd/containerd.sock", "containerd's socket")
	f.StringVar(&o.registryMirror, "registry-mirror", "", "Registry mirror for Docker Hub images (http://HOST:PORT)")
	f.StringSliceVar(&o.insecureRegistries, "insecure-registry", nil, "Registry reached over plain HTTP (HOST:PORT)")
	f.DurationVar(&o.heartbeat, "heartbeat-period", 0, "Worker heartbeat period (default 5s)")
	f.DurationVar(&o.raftHeartbeat, "raft-heartbeat", 0, fmt.Sprintf("Raft heartbeat/election timeout (default %v)", raftnode.DefaultConfig().HeartbeatTimeout))
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&o.lbBackend, "lb-backend", "auto", "Load balancer in the lb namespaces: ipvs, nftables, or auto (ipvs where the kernel has it)")
	f.IntVar(&o.gossipPort, "gossip-port", netagent.DefaultGossipPort, "Port of the gossip (memberlist) endpoint table, TCP and UDP")
	f.StringSliceVar(&o.dnsUpstreams, "dns-upstream", nil, "Resolver (IP[:PORT]) the embedded DNS relays non-swarm names to (default: the node's /etc/resolv.conf)")
	o.engine.register(f)
	_ = f.MarkHidden("heartbeat-period")
	_ = f.MarkHidden("raft-heartbeat")
	o.raftSnapshot.register(f)
	o.pprof.register(f)
	o.fakeState.register(f)
	return cmd
}

// runDaemon builds the node from the flags and runs it until a signal.
func runDaemon(ctx context.Context, o *daemonOptions) error {
	log, err := newLogger(o.logLevel)
	if err != nil {
		return err
	}
	hostname := o.nodeName
	if hostname == "" {
		if hostname, err = os.Hostname(); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopPprof, err := o.pprof.serve(o.execRoot, log)
	if err != nil {
		return err
	}
	defer stopPprof()

	exec, err := newExecutor(ctx, o, hostname, log)
	if err != nil {
		return err
	}
	defer exec.Close()
	cfg, err := nodeConfig(o, hostname, exec, log)
	if err != nil {
		return err
	}
	n, err := node.New(cfg)
	if err != nil {
		return err
	}
	err = n.Run(ctx)
	return errors.Join(err, o.fakeState.save(exec))
}

// newLogger is the daemon's structured log on stderr at --log-level.
func newLogger(logLevel string) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return nil, fmt.Errorf("invalid --log-level %q", logLevel)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})), nil
}

// newExecutor is the task runtime --executor names.
func newExecutor(ctx context.Context, o *daemonOptions, hostname string, log *slog.Logger) (executor.Executor, error) {
	switch o.executor {
	case "fake":
		e := fake.New()
		if err := o.fakeState.load(e); err != nil {
			return nil, err
		}
		return e, nil
	case "containerd":
		cfg := containerd.DefaultConfig("minsw-" + hostname)
		cfg.Address = o.containerdAddr
		cfg.RegistryMirror = o.registryMirror
		cfg.InsecureRegistries = o.insecureRegistries
		cfg.StateDir = filepath.Join(o.dataRoot, "containers")
		if exe, err := os.Executable(); err == nil {
			cfg.LogBinary = exe
		}
		cfg.Logger = log
		e, err := containerd.New(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return e, nil
	default:
		return nil, fmt.Errorf("invalid --executor %q: want containerd or fake", o.executor)
	}
}

// nodeConfig is the node's configuration from the flags, validated once.
func nodeConfig(o *daemonOptions, hostname string, exec executor.Executor, log *slog.Logger) (node.Config, error) {
	cfg := node.Config{
		Hostname: hostname, DataRoot: o.dataRoot, ExecRoot: o.execRoot,
		AdvertiseAddr: o.advertiseAddr, ListenAddr: o.listenAddr,
		Executor: exec, HeartbeatPeriod: o.heartbeat, Logger: log,
		DockerSocket:   o.dockerSocket,
		RegistryMirror: o.registryMirror, InsecureRegistries: o.insecureRegistries,
	}
	var err error
	if cfg.DockerTCP, cfg.DockerTLS, err = dockerTCP(o); err != nil {
		return cfg, err
	}
	if err := o.engine.apply(&cfg); err != nil {
		return cfg, err
	}
	if o.executor != "fake" {
		nc, err := networkingConfig(o, log)
		if err != nil {
			return cfg, err
		}
		cfg.Networking = nc
	} else {
		log.Info("task networking off: the fake executor runs no containers to network")
	}
	if o.raftHeartbeat > 0 {
		cfg.Raft = raftnode.Config{HeartbeatTimeout: o.raftHeartbeat, ElectionTimeout: o.raftHeartbeat, LeaderLeaseTimeout: o.raftHeartbeat * 4 / 5}
	}
	o.raftSnapshot.apply(&cfg.Raft)
	return cfg, nil
}

// networkingConfig is the template of the daemon's task networking.
func networkingConfig(o *daemonOptions, log *slog.Logger) (*netagent.Config, error) {
	nc := netagent.DefaultConfig()
	if err := netdriver.CheckBackendChoice(o.lbBackend); err != nil {
		return nil, fmt.Errorf("--lb-backend: %w", err)
	}
	switch o.lbBackend {
	case "auto", "":
		if netdriver.KernelHasIPVS() {
			log.Info("lb backend", "backend", netdriver.BackendIPVS, "reason", "auto: the kernel has IPVS")
		} else {
			log.Info("lb backend", "backend", netdriver.BackendNFTables, "reason", "auto: the kernel lacks IPVS (no /proc/net/ip_vs, no ip_vs module)")
		}
	default:
		log.Info("lb backend", "backend", o.lbBackend, "reason", "forced by --lb-backend")
	}
	nc.LBBackend = o.lbBackend
	if o.gossipPort <= 0 || o.gossipPort > 65535 {
		return nil, fmt.Errorf("invalid --gossip-port %d", o.gossipPort)
	}
	nc.Gossip.BindPort = o.gossipPort
	for _, u := range o.dnsUpstreams {
		ap, err := netip.ParseAddrPort(u)
		if err != nil {
			a, aerr := netip.ParseAddr(u)
			if aerr != nil {
				return nil, fmt.Errorf("invalid --dns-upstream %q: want IP or IP:PORT", u)
			}
			ap = netip.AddrPortFrom(a, 53)
		}
		nc.DNSUpstreams = append(nc.DNSUpstreams, ap)
	}
	nc.Logger = log
	return &nc, nil
}
