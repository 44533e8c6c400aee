package netagent_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/minsw/minsw/netdriver"
	"github.com/minsw/minsw/netdriver/netfake"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/agent"
	"github.com/minsw/minsw/worker/netagent"
)

// heldEgress is the fake dataplane whose AttachEgress of one container
// stops inside (as slow kernel work would, with the agent's lock held)
// until the test lets it go.
type heldEgress struct {
	*netfake.Driver
	cid     string
	entered chan struct{}
	release chan struct{}
}

func (h *heldEgress) AttachEgress(ctx context.Context, ep netdriver.EgressEndpoint) error {
	if ep.ContainerID == h.cid {
		close(h.entered)
		<-h.release
	}
	return h.Driver.AttachEgress(ctx, ep)
}

// TestEgressEndpointsDoNotWaitForKernelWork: `network ls/inspect` read the
// gateway bridge's endpoints while a task is being attached (the agent's
// lock held through the kernel work): they get the view as it was, at
// once, and the new task's leg once its attach is done.
func TestEgressEndpointsDoNotWaitForKernelWork(t *testing.T) {
	web2 := task("web2", "swarm-worker1", "web", 2, "10.0.1.4", "10.0.1.2", 0x100)
	held := &heldEgress{cid: agent.ContainerID(web2.GetId()), entered: make(chan struct{}), release: make(chan struct{})}
	n := startFakeNodeWith(t, "swarm-worker1", "192.168.56.11", "10.0.1.37/24", nil, func(d *netfake.Driver) netagent.Dataplane {
		held.Driver = d
		return held
	})
	web1 := task("web1", "swarm-worker1", "web", 1, "10.0.1.3", "10.0.1.2", 0x100)
	n.run(t, web1)
	ids := func(eps []netagent.EgressEndpoint) []string {
		var out []string
		for _, ep := range eps {
			out = append(out, ep.ContainerID)
		}
		slices.Sort(out)
		return out
	}
	want1 := []string{agent.ContainerID(web1.GetId())}
	if got := ids(n.agent.EgressEndpoints()); !slices.Equal(got, want1) {
		t.Fatalf("endpoints with web1: %v, want %v", got, want1)
	}

	prepared := make(chan error, 1)
	n.view.put(web2, api.TaskState_TASK_STATE_PREPARING)
	go func() {
		_, err := n.agent.Prepare(context.Background(), web2, []*api.Network{mynet})
		prepared <- err
	}()
	select {
	case <-held.entered: // web2's attach is under way, the agent's lock held
	case err := <-prepared:
		t.Fatalf("web2 prepared without attaching to the gateway bridge: %v", err)
	}
	read := make(chan []netagent.EgressEndpoint, 1)
	go func() { read <- n.agent.EgressEndpoints() }()
	select {
	case eps := <-read:
		if got := ids(eps); !slices.Equal(got, want1) {
			t.Errorf("endpoints during web2's attach: %v, want web1's only %v", got, want1)
		}
	case <-time.After(30 * time.Second):
		close(held.release)
		t.Fatal("EgressEndpoints waited for the agent's kernel work (30 s)")
	}
	close(held.release)
	if err := <-prepared; err != nil {
		t.Fatalf("prepare web2: %v", err)
	}
	want2 := append(slices.Clone(want1), agent.ContainerID(web2.GetId()))
	slices.Sort(want2)
	if got := ids(n.agent.EgressEndpoints()); !slices.Equal(got, want2) {
		t.Fatalf("endpoints after web2's attach: %v, want %v", got, want2)
	}
}
