package chaos

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	api "github.com/minsw/minsw/proto/minsw/v1"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// AddWorkers starts n worker daemons (fake executor) under dir and joins
// them to the cluster with its worker token, with the daemon flags
// timings (as Manager.Timings): the tasks of a scale test run
// on them, so a manager restart measures the manager alone (a manager that
// is its own fake-executor worker loses every task it ran when it stops).
func (c *Cluster) AddWorkers(ctx context.Context, dir string, n int, timings []string) ([]*Manager, error) {
	leader, err := c.Leader(ctx)
	if err != nil {
		return nil, err
	}
	lc, _ := leader.Client()
	var token string
	if err := retry(ctx, func() error {
		r, err := lc.Control.GetCluster(ctx, &api.GetClusterRequest{})
		token = r.GetCluster().GetJoinTokens().GetWorker()
		return err
	}); err != nil {
		return nil, err
	}
	var out []*Manager
	for i := 0; i < n; i++ {
		port, err := freePort()
		if err != nil {
			return out, err
		}
		w := &Manager{Index: len(c.Managers) + i, Name: fmt.Sprintf("w%d", i), Dir: filepath.Join(dir, fmt.Sprintf("w%d", i)),
			Port: port, Listen: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Gid: os.Getgid(), bin: c.bin, Timings: timings,
			KeepFakeTasks: c.KeepWorkerTasks}
		out = append(out, w)
		if err := w.Start(ctx); err != nil {
			return out, err
		}
		wc, err := w.Client()
		if err != nil {
			return out, err
		}
		if err := retry(ctx, func() error {
			_, err := wc.Swarm.Join(ctx, &api.JoinRequest{RemoteAddrs: []string{leader.Listen}, JoinToken: token, AdvertiseAddr: w.Listen, ListenAddr: w.Listen})
			return err
		}); err != nil {
			return out, fmt.Errorf("join %s: %w", w.Name, err)
		}
	}
	return out, nil
}

// DrainManagers sets every manager's availability to drain, so tasks go
// to the workers only.
func (c *Cluster) DrainManagers(ctx context.Context) error {
	leader, err := c.Leader(ctx)
	if err != nil {
		return err
	}
	lc, _ := leader.Client()
	names := map[string]bool{}
	for _, m := range c.Managers {
		names[m.Name] = true
	}
	return retry(ctx, func() error {
		r, err := lc.Control.ListNodes(ctx, &api.ListNodesRequest{})
		if err != nil {
			return err
		}
		for _, nd := range r.GetNodes() {
			if !names[nd.GetDescription().GetHostname()] || nd.GetSpec().GetAvailability() == api.NodeAvailability_NODE_AVAILABILITY_DRAIN {
				continue
			}
			sp := &api.NodeSpec{Availability: api.NodeAvailability_NODE_AVAILABILITY_DRAIN}
			if _, err := lc.Control.UpdateNode(ctx, &api.UpdateNodeRequest{Ref: nd.GetId(), Version: nd.GetMeta().GetVersion(), Spec: sp,
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"availability"}}}); err != nil {
				return err
			}
		}
		return nil
	})
}
