package gossip

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// childJoinEnv makes the test binary a gossip node in its own process that
// joins the given address, writes five endpoints on net1 and waits to be
// killed: a node that dies with no chance to say goodbye.
const childJoinEnv = "MINSW_GOSSIP_CHILD_JOIN"

func TestMain(m *testing.M) {
	if peer := os.Getenv(childJoinEnv); peer != "" {
		os.Exit(childNode(peer))
	}
	os.Exit(m.Run())
}

func childNode(peer string) int {
	cfg := DefaultConfig("node-child")
	cfg.BindAddr, cfg.BindPort = "127.0.0.1", 0
	cfg.Logger = testLogger()
	d, err := New(cfg)
	if err == nil {
		_, err = d.Join(context.Background(), []string{peer})
	}
	if err == nil {
		err = d.JoinNetwork(net1)
	}
	for i := 0; i < 5 && err == nil; i++ {
		ep := web1(9)
		ep.TaskID = fmt.Sprintf("child-task-%d", i)
		err = d.PutEndpoint(ep)
	}
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("ready")
	time.Sleep(time.Minute) // killed long before
	return 0
}

func TestSIGKILLedNodeEntriesDisappear(t *testing.T) {
	ds := cluster(t, 2)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childJoinEnv+"="+ds[0].LocalAddr())
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || sc.Text() != "ready" {
		t.Fatalf("child: %q", sc.Text())
	}
	eventually(t, "the child's entries reach both nodes", func() bool {
		return len(ds[0].Entries(net1)) == 5 && len(ds[1].Entries(net1)) == 5
	})
	killed := time.Now()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	var took []string
	for _, d := range ds {
		eventually(t, "the killed node's entries are gone", func() bool { return len(d.Entries(net1)) == 0 })
		took = append(took, fmt.Sprintf("%s after %v", d.NodeName(), time.Since(killed).Round(time.Millisecond)))
	}
	t.Logf("process SIGKILLed -> its entries gone from %s", strings.Join(took, ", "))
}
