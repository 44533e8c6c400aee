package manager

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/minsw/minsw/internal/eventually"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// restartManager starts old again from its data dir on its address, as a
// daemon restart does.
func restartManager(t testing.TB, old *Manager) *Manager {
	t.Helper()
	var l net.Listener
	eventually.Succeeds(t, eventually.DefaultWithin, "the old listener's port free again", func() (err error) {
		l, err = net.Listen("tcp", old.cfg.AdvertiseAddr)
		return err
	})
	m, err := New(Config{NodeID: old.cfg.NodeID, Listener: l, AdvertiseAddr: old.cfg.AdvertiseAddr, Raft: old.cfg.Raft,
		DataDir: old.cfg.DataDir, Credentials: old.cfg.Credentials})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	return m
}

func probeSpec(seq int) *api.ServiceSpec {
	return &api.ServiceSpec{Name: "probe", Labels: map[string]string{"seq": strconv.Itoa(seq)},
		Mode: &api.ServiceSpec_Replicated{Replicated: &api.ReplicatedService{Replicas: 0}},
		Task: &api.TaskSpec{Container: &api.ContainerSpec{Image: "containous/whoami"}}}
}

// After all three managers restart at once, no manager answers a read with
// state older than the writes acknowledged before the restart: until the
// new leader has applied the log it is told to be catching up
// (Unavailable), never served stale.
func TestWholeClusterRestartServesNoStaleRead(t *testing.T) {
	ms := threeManagers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ctl := api.NewControlClient(dial(t, ms[0]))
	// A log long enough that replaying it takes a moment.
	const extra = 300
	for i := 0; i < extra; i++ {
		spec := probeSpec(0)
		spec.Name = fmt.Sprintf("filler-%03d", i)
		if _, err := ctl.CreateService(ctx, &api.CreateServiceRequest{Spec: spec}); err != nil {
			t.Fatal(err)
		}
	}
	created, err := ctl.CreateService(ctx, &api.CreateServiceRequest{Spec: probeSpec(0)})
	if err != nil {
		t.Fatal(err)
	}
	version := created.Service.Meta.Version
	const acked = 40
	for seq := 1; seq <= acked; seq++ {
		got, err := ctl.GetService(ctx, &api.GetServiceRequest{Ref: "probe"})
		if err != nil {
			t.Fatal(err)
		}
		version = got.Service.Meta.Version
		if _, err := ctl.UpdateService(ctx, &api.UpdateServiceRequest{Ref: "probe", Version: version, Spec: probeSpec(seq)}); err != nil {
			t.Fatal(err)
		}
	}

	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Add(1)
		go func() { defer wg.Done(); m.Stop() }()
	}
	wg.Wait()
	restarted := make([]*Manager, len(ms))
	for i, m := range ms {
		wg.Add(1)
		go func() { defer wg.Done(); restarted[i] = restartManager(t, m) }()
	}
	wg.Wait()

	// Read from every manager at once, as fast as answers come, until each
	// has served several current reads.
	type result struct {
		served, refused int
		bad             string
		reasons         map[string]int
	}
	results := make([]result, len(restarted))
	began := time.Now()
	firstRead := make([]time.Duration, len(restarted))
	for i, m := range restarted {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := api.NewControlClient(dial(t, m))
			r := &results[i]
			r.reasons = map[string]int{}
			for r.served < 20 && ctx.Err() == nil && r.bad == "" {
				rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
				svc, err := c.GetService(rctx, &api.GetServiceRequest{Ref: "probe"})
				var list *api.ListServicesResponse
				if err == nil {
					list, err = c.ListServices(rctx, &api.ListServicesRequest{})
				}
				rcancel()
				switch {
				case err == nil:
					if got := svc.Service.Spec.Labels["seq"]; got != strconv.Itoa(acked) {
						r.bad = fmt.Sprintf("read seq=%s after seq=%d was acknowledged", got, acked)
					} else if len(list.Services) != extra+1 {
						r.bad = fmt.Sprintf("listed %d services, %d were acknowledged", len(list.Services), extra+1)
					}
					if r.served == 0 {
						firstRead[i] = time.Since(began)
					}
					r.served++
				case status.Code(err) == codes.Unavailable:
					msg := status.Convert(err).Message()
					switch {
					case strings.HasPrefix(msg, "the manager is catching up ("):
						r.reasons["catching up"]++
					case strings.HasPrefix(msg, "the swarm does not have a leader"):
						r.reasons["no leader"]++
					default:
						r.reasons[msg]++
					}
					r.refused++
					time.Sleep(5 * time.Millisecond)
				default:
					r.bad = fmt.Sprintf("read failed with %v", err)
				}
			}
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.bad != "" {
			t.Fatalf("manager %s: %s", restarted[i].cfg.NodeID, r.bad)
		}
		if r.served < 20 {
			t.Fatalf("manager %s served %d current reads before the deadline (%d refused)", restarted[i].cfg.NodeID, r.served, r.refused)
		}
		t.Logf("manager %s: first current read %v after restart; refused before: %v", restarted[i].cfg.NodeID, firstRead[i].Round(time.Millisecond), r.reasons)
	}
}
