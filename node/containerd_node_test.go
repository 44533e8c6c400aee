package node_test

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/minsw/minsw/client"
	"github.com/minsw/minsw/internal/testenv"
	"github.com/minsw/minsw/manager/raftnode"
	"github.com/minsw/minsw/netdriver/netns"
	"github.com/minsw/minsw/node"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/executor/containerd"
	"github.com/minsw/minsw/worker/netagent"
)

// ctrdNode is one daemon run in-process with the containerd executor and
// real task networking (its underlay a namespace of the test's), after
// `swarm init`, with a registry on loopback holding busybox.
type ctrdNode struct {
	t        *testing.T
	ctx      context.Context
	dir      string
	execRoot string
	underlay string
	ex       *containerd.Executor
	cfg      node.Config
	n        *node.Node
	cancel   context.CancelFunc
	done     chan error
	cl       *client.Client
	reg      *testenv.Registry // the registry mirror, holding library/busybox:latest
}

func startContainerdNode(t *testing.T, nsName string) *ctrdNode {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if testing.Short() {
		t.Skip("starts containerd")
	}
	ctrd := testenv.NewContainerd(t)
	reg := testenv.NewRegistry(t)
	testenv.PushBusybox(t, reg, "library/busybox:latest")

	c := &ctrdNode{t: t, reg: reg}
	dir := testenv.TempDir(t, "mnet")
	c.dir = dir
	var err error
	c.underlay, err = netns.Create(filepath.Join(dir, "ul"), "node1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netns.Delete(c.underlay); netns.Release(filepath.Join(dir, "ul")) })
	if err := netns.Do(c.underlay, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c.ctx = ctx
	ecfg := containerd.DefaultConfig(nsName)
	ecfg.Address = ctrd.Address
	ecfg.RegistryMirror = reg.URL
	ecfg.InsecureRegistries = []string{reg.Host}
	ecfg.StateDir = filepath.Join(dir, "containers")
	// The minsw binary is the log writer, as the daemon makes itself.
	ecfg.LogBinary = binPath
	c.ex, err = containerd.New(ctx, ecfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.ex.Close() })

	tmpl := netagent.DefaultConfig()
	tmpl.UnderlayNetns = c.underlay
	tmpl.LBBackend = "auto"
	tmpl.Gossip.BindAddr = "127.0.0.1"
	_, gport, _ := net.SplitHostPort(freePort(t))
	tmpl.Gossip.BindPort, _ = strconv.Atoi(gport)
	tmpl.DNSUpstreams = []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:1")}
	c.execRoot = filepath.Join(dir, "run")
	c.cfg = node.Config{
		Hostname: "node1", DataRoot: filepath.Join(dir, "data"), ExecRoot: c.execRoot,
		AdvertiseAddr: "127.0.0.1", ListenAddr: freePort(t), Executor: c.ex, Networking: &tmpl,
		HeartbeatPeriod: time.Second, // 300 ms let a loaded machine mark the node down
		Raft:            testRaft(),
		DockerSocket:    filepath.Join(dir, "run", "docker.sock"),
		RegistryMirror:  reg.URL,
	}
	c.start()
	t.Cleanup(c.stop)

	c.cl, err = client.New("unix://" + c.n.SocketPath())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.cl.Close() })
	if !within(10*time.Second, func() bool { _, err := c.cl.Swarm.Info(ctx, &minswv1.InfoRequest{}); return err == nil }) {
		t.Fatal("daemon did not answer")
	}
	if _, err := c.cl.Swarm.Init(ctx, &minswv1.InitRequest{AdvertiseAddr: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	return c
}

// start runs the node until stop.
func (c *ctrdNode) start() {
	c.t.Helper()
	n, err := node.New(c.cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.n = n
	nctx, cancel := context.WithCancel(c.ctx)
	c.cancel, c.done = cancel, make(chan error, 1)
	go func() { c.done <- n.Run(nctx) }()
}

// stop ends the node's Run and waits for it; a second call is a no-op.
func (c *ctrdNode) stop() {
	if c.cancel != nil {
		c.cancel()
		<-c.done
		c.cancel = nil
	}
}

// minsw runs the built CLI against the node.
func (c *ctrdNode) minsw(args ...string) (string, int) {
	d := &daemon{t: c.t, dir: c.dir}
	cmdArgs := append([]string{"--host", "unix://" + c.n.SocketPath()}, args...)
	return d.minsw(cmdArgs...)
}

// testRaft is the daemon's raft timing: the tests' former 150 ms lease lost
// leadership whenever the machine was loaded.
func testRaft() raftnode.Config {
	d := raftnode.DefaultConfig()
	return raftnode.Config{HeartbeatTimeout: d.HeartbeatTimeout, ElectionTimeout: d.ElectionTimeout, LeaderLeaseTimeout: d.LeaderLeaseTimeout}
}
