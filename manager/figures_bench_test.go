package manager

import (
	"context"
	"fmt"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/minsw/minsw/manager/encryption"
	"github.com/minsw/minsw/manager/raftnode"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// The control plane's figures (issue 11's table), on three managers over
// loopback TCP with the daemon's own raft settings (500 ms heartbeat and
// election timeouts, raft data encrypted on disk):
//
//	go test -run - -bench 'LeaderKilled|WholeClusterRestart' ./manager/
//
// Each makes one measured run whatever b.N: the figures are latencies of
// rare events, reported as metrics and logged.

// productionManagers starts three managers and restarts them with the
// daemon's raft settings and a data key, as a real swarm runs.
func productionManagers(b *testing.B) []*Manager {
	ms := threeManagers(b)
	for i, m := range ms {
		m.Stop()
		k, err := encryption.NewKey()
		if err != nil {
			b.Fatal(err)
		}
		c, err := encryption.New(k, encryption.PurposeRaft)
		if err != nil {
			b.Fatal(err)
		}
		ms[i] = restartWith(b, m, raftnode.Config{Cipher: c})
	}
	return ms
}

// restartWith starts old again from its data dir on its address with the
// raft settings rc (zero values: the daemon's defaults; no cipher: old's).
func restartWith(t testing.TB, old *Manager, rc raftnode.Config) *Manager {
	t.Helper()
	var l net.Listener
	var err error
	for i := 0; i < 100; i++ {
		if l, err = net.Listen("tcp", old.cfg.AdvertiseAddr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if rc.Cipher == nil {
		rc.Cipher = old.cfg.Raft.Cipher
	}
	m, err := New(Config{NodeID: old.cfg.NodeID, Listener: l, AdvertiseAddr: old.cfg.AdvertiseAddr, Raft: rc,
		DataDir: old.cfg.DataDir, Credentials: old.cfg.Credentials})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	return m
}

func leaderOf(ms []*Manager) *Manager {
	for _, m := range ms {
		if m != nil && m.IsLeader() {
			return m
		}
	}
	return nil
}

// BenchmarkLeaderKilledWritesAccepted stops the leader five times and
// measures how long until a write through a surviving manager is accepted.
func BenchmarkLeaderKilledWritesAccepted(b *testing.B) {
	for range 1 {
		ms := productionManagers(b)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		waitUntil(b, ctx, func() bool { return leaderOf(ms) != nil })
		var took []time.Duration
		for round := 0; round < 5; round++ {
			var li int
			for i, m := range ms {
				if m.IsLeader() {
					li = i
				}
			}
			survivor := ms[(li+1)%3]
			ctl := api.NewControlClient(dialB(b, survivor))
			ms[li].Stop()
			start := time.Now()
			for {
				cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
				_, err := ctl.CreateService(cctx, &api.CreateServiceRequest{Spec: probeSpec(round), IdempotencyKey: fmt.Sprintf("kill-%d", round)})
				ccancel()
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					b.Fatalf("no write accepted after the leader was killed: %v", err)
				}
				time.Sleep(10 * time.Millisecond)
			}
			took = append(took, time.Since(start))
			// Rename the probe so the next round can create it again, and
			// bring the killed manager back.
			if _, err := ctl.RemoveService(ctx, &api.RemoveServiceRequest{Ref: "probe"}); err != nil {
				b.Fatal(err)
			}
			ms[li] = restartWith(b, ms[li], raftnode.Config{})
			waitUntil(b, ctx, func() bool {
				n := 0
				var probe *api.Service
				ms[li].st.View(func(tx store.ReadTx) { n, probe = len(tx.Nodes()), tx.ServiceByName("probe") })
				return n == 3 && probe == nil && ms[li].raft.Behind() == 0 && leaderOf(ms) != nil
			})
		}
		sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
		var sum time.Duration
		for _, d := range took {
			sum += d
		}
		b.Logf("leader killed -> write accepted, 5 kills: min %v, median %v, max %v", took[0].Round(time.Millisecond), took[2].Round(time.Millisecond), took[4].Round(time.Millisecond))
		b.ReportMetric(float64(sum.Milliseconds())/5, "mean-ms")
		b.ReportMetric(float64(took[4].Milliseconds()), "max-ms")
	}
}

// BenchmarkWholeClusterRestart3000Services stops all three managers of a
// swarm holding 3,000 services and 20,000 tasks and starts them again at
// once: how long until the first write is accepted and the first read that
// shows every acknowledged write is served.
func BenchmarkWholeClusterRestart3000Services(b *testing.B) {
	for range 1 {
		ms := productionManagers(b)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		waitUntil(b, ctx, func() bool { return leaderOf(ms) != nil })
		ctl := api.NewControlClient(dialB(b, leaderOf(ms)))
		const services = 3000
		var next atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for c := 0; c < 16; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1)
					if i > services {
						return
					}
					spec := service(fmt.Sprintf("svc%04d", i))
					replicas := uint64(7)
					if i > 2000 {
						replicas = 6
					}
					spec.Mode = &api.ServiceSpec_Replicated{Replicated: &api.ReplicatedService{Replicas: replicas}}
					if err := createRetried(ctx, ctl, spec); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		select {
		case err := <-errs:
			b.Fatal(err)
		default:
		}
		if _, err := ctl.CreateService(ctx, &api.CreateServiceRequest{Spec: probeSpec(1)}); err != nil {
			b.Fatal(err)
		}
		waitUntil(b, ctx, func() bool {
			for _, m := range ms {
				var n int
				m.st.View(func(tx store.ReadTx) { n = len(tx.Tasks()) })
				if n < 20000 {
					return false
				}
			}
			return true
		})
		cur, err := ctl.GetService(ctx, &api.GetServiceRequest{Ref: "probe"})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ctl.UpdateService(ctx, &api.UpdateServiceRequest{Ref: "probe", Version: cur.Service.Meta.Version, Spec: probeSpec(2)}); err != nil {
			b.Fatal(err)
		}
		var tasks int
		ms[0].st.View(func(tx store.ReadTx) { tasks = len(tx.Tasks()) })

		var stop sync.WaitGroup
		for _, m := range ms {
			stop.Add(1)
			go func() { defer stop.Done(); m.Stop() }()
		}
		stop.Wait()
		start := time.Now()
		restarted := make([]*Manager, 3)
		for i, m := range ms {
			stop.Add(1)
			go func() { defer stop.Done(); restarted[i] = restartWith(b, m, raftnode.Config{}) }()
		}
		stop.Wait()
		opened := time.Since(start)
		var firstWrite, firstRead time.Duration
		var rw sync.WaitGroup
		rw.Add(2)
		go func() { // writer: any manager, until one accepts
			defer rw.Done()
			for i := 0; ctx.Err() == nil; i++ {
				c := api.NewControlClient(dialB(b, restarted[i%3]))
				cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
				_, err := c.CreateService(cctx, &api.CreateServiceRequest{Spec: service("after-restart"), IdempotencyKey: "after-restart"})
				ccancel()
				if err == nil {
					firstWrite = time.Since(start)
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
		go func() { // reader: a read that shows the last acknowledged write
			defer rw.Done()
			for i := 0; ctx.Err() == nil; i++ {
				c := api.NewControlClient(dialB(b, restarted[i%3]))
				cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
				got, err := c.GetService(cctx, &api.GetServiceRequest{Ref: "probe"})
				ccancel()
				if err == nil {
					if got.Service.Spec.Labels["seq"] != "2" {
						b.Errorf("stale read after the restart: seq=%s", got.Service.Spec.Labels["seq"])
					}
					firstRead = time.Since(start)
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
		rw.Wait()
		b.Logf("whole cluster restarted with %d services / %d tasks: stores opened in %v, first write accepted after %v, first current read after %v",
			services+1, tasks, opened.Round(time.Millisecond), firstWrite.Round(time.Millisecond), firstRead.Round(time.Millisecond))
		b.ReportMetric(float64(firstWrite.Milliseconds()), "first-write-ms")
		b.ReportMetric(float64(firstRead.Milliseconds()), "first-read-ms")
	}
}

// createRetried creates spec through ctl, trying again while the swarm
// has no leader or the outcome is unknown: under load (10+) the fill's
// leader may step down, and the figure is the restart's, not the fill's.
// The idempotency key keeps a retry from making a second service.
func createRetried(ctx context.Context, ctl api.ControlClient, spec *api.ServiceSpec) error {
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := ctl.CreateService(cctx, &api.CreateServiceRequest{Spec: spec, IdempotencyKey: "fill-" + spec.Name})
		cancel()
		switch status.Code(err) {
		case codes.OK:
			return nil
		case codes.Unavailable, codes.Unknown, codes.DeadlineExceeded:
			if ctx.Err() != nil {
				return err
			}
			time.Sleep(100 * time.Millisecond)
		default:
			return err
		}
	}
}

func waitUntil(b *testing.B, ctx context.Context, ok func() bool) {
	b.Helper()
	for !ok() {
		if ctx.Err() != nil {
			b.Fatal("timed out waiting")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
