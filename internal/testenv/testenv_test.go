package testenv

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestContainerdStartsAnswersAndLeavesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := StartContainerd(ctx, ContainerdOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	v, err := cl.Version(ctx)
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("containerd %s at %s (pid %d)", v.Version, c.Address, c.Pid)
	if _, err := os.Stat("/opt/containerd"); err == nil {
		t.Log("note: /opt/containerd exists (not made by this test's daemon, whose opt path is under its dir)")
	}
	if _, err := os.Stat(c.Dir + "/opt"); err != nil {
		t.Errorf("opt plugin path: %v", err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(c.Pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("daemon pid %d still there: %v", c.Pid, err)
	}
	if _, err := os.Stat(c.Dir); !os.IsNotExist(err) {
		t.Errorf("%s not removed: %v", c.Dir, err)
	}
}

func TestMissingContainerdIsAnError(t *testing.T) {
	_, err := StartContainerd(context.Background(), ContainerdOptions{Binary: "/nonexistent/containerd"})
	if !errors.Is(err, ErrNoContainerd) {
		t.Fatalf("got %v, want ErrNoContainerd", err)
	}
	t.Log(err)
}

func TestRegistryServesTheDistributionAPI(t *testing.T) {
	r := NewRegistry(t)
	resp, err := httpGet(r.URL + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	if resp != 200 {
		t.Errorf("GET /v2/: %d", resp)
	}
}
