package chaos

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// BenchmarkManagerRSSAfterRestart fills a cluster of MINSW_SCALE_MANAGERS
// managers (default 3, drained) and MINSW_SCALE_WORKERS worker daemons
// (default 4, fake executor) with MINSW_SCALE_SERVICES services of
// MINSW_SCALE_REPLICAS replicas (default 10,000 x 10 = 100,000 tasks)
// through the real API, stops every manager (SIGTERM) and starts them
// again, and reports the time from the restart to the first accepted write
// and the first current read, and each manager's resident memory once the
// workers' 100,000 tasks are reported running again.
//
//	go test -run '^$' -bench ManagerRSS -benchtime 1x -timeout 60m ./chaos/
func BenchmarkManagerRSSAfterRestart(b *testing.B) {
	services, replicas := envInt("MINSW_SCALE_SERVICES", 10_000), envInt("MINSW_SCALE_REPLICAS", 10)
	managers, workers := envInt("MINSW_SCALE_MANAGERS", 3), envInt("MINSW_SCALE_WORKERS", 4)
	ctx := context.Background()
	dir := b.TempDir()
	c, err := NewCluster(binPath, dir, managers, os.Getgid())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for _, m := range c.Managers {
		// The daemon's own timings: a restart is measured as users get it.
		m.Timings = []string{"--log-level", "info"}
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := c.Start(sctx); err != nil {
		b.Fatal(err)
	}
	if err := c.DrainManagers(sctx); err != nil {
		b.Fatal(err)
	}
	ws, err := c.AddWorkers(sctx, dir, workers, []string{})
	defer func() {
		for _, w := range ws {
			w.Kill()
		}
	}()
	if err != nil {
		b.Fatal(err)
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		b.Fatal(err)
	}
	cl, _ := leader.Client()
	start := time.Now()
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(services) {
					return
				}
				sp := spec(fmt.Sprintf("s%05d", i), "v")
				sp.Mode = &api.ServiceSpec_Replicated{Replicated: &api.ReplicatedService{Replicas: uint64(replicas)}}
				wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
				err := retry(wctx, func() error {
					_, err := cl.Control.CreateService(wctx, &api.CreateServiceRequest{Spec: sp})
					if err != nil && strings.Contains(err.Error(), "already exists") {
						return nil
					}
					return err
				})
				cancel()
				if err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	b.Logf("%d services created in %v (%d failed)", services, time.Since(start).Round(time.Second), failed.Load())
	want := services * replicas
	if err := waitRunning(ctx, c, want, 40*time.Minute); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d tasks running after %v; RSS before the restart: %s", want, time.Since(start).Round(time.Second), rssList(c.Managers))

	var stop sync.WaitGroup
	for _, m := range c.Managers {
		stop.Add(1)
		go func() { defer stop.Done(); m.Stop() }()
	}
	stop.Wait()
	// All three start at once, as after a power cut.
	restart := time.Now()
	errs := make(chan error, len(c.Managers))
	for _, m := range c.Managers {
		go func() { errs <- m.Start(ctx) }()
	}
	for range c.Managers {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("all managers' sockets open %v after the restart", time.Since(restart).Round(time.Millisecond))
	m0, _ := c.Managers[0].Client()
	var firstRead, firstWrite time.Duration
	for firstRead == 0 || firstWrite == 0 {
		if firstRead == 0 {
			if _, err := m0.Control.GetService(ctx, &api.GetServiceRequest{Ref: "s00000"}); err == nil {
				firstRead = time.Since(restart)
			}
		}
		if firstWrite == 0 {
			if _, err := m0.Control.CreateService(ctx, &api.CreateServiceRequest{Spec: spec("after-restart", "v")}); err == nil {
				firstWrite = time.Since(restart)
			}
		}
		time.Sleep(20 * time.Millisecond)
		if time.Since(restart) > 10*time.Minute {
			b.Fatal("the managers did not serve within 10 minutes of their restart")
		}
	}
	b.Logf("first read %v, first write %v after the restart", firstRead.Round(time.Millisecond), firstWrite.Round(time.Millisecond))
	if err := waitRunning(ctx, c, want, 20*time.Minute); err != nil {
		b.Fatal(err)
	}
	settled := time.Since(restart)
	time.Sleep(10 * time.Second)
	max := 0
	for _, m := range c.Managers {
		if r := rssMiB(m); r > max {
			max = r
		}
	}
	fmt.Printf("%d managers with %d services / %d tasks (on %d workers), after a restart of all: first current read %v, first write %v; all tasks reported running again after %v; manager RSS %s (max %d MiB)\n",
		managers, services, want, workers, firstRead.Round(time.Millisecond), firstWrite.Round(time.Millisecond), settled.Round(time.Second), rssList(c.Managers), max)
	if d, err := time.ParseDuration(os.Getenv("MINSW_SCALE_HOLD")); err == nil {
		b.Logf("holding %v: data in %s", d, dir)
		time.Sleep(d)
	}
	b.ReportMetric(float64(max), "max-RSS-MiB")
	b.ReportMetric(firstRead.Seconds(), "first-read-s")
	b.ReportMetric(firstWrite.Seconds(), "first-write-s")
}

// waitRunning waits until the cluster reports want tasks running.
func waitRunning(ctx context.Context, c *Cluster, want int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	n := -1
	for time.Now().Before(deadline) {
		if n = running(ctx, c); n >= want {
			return nil
		}
		time.Sleep(5 * time.Second)
	}
	return fmt.Errorf("only %d of %d tasks running after %v", n, want, limit)
}

// running counts the tasks reported running, asking the leader.
func running(ctx context.Context, c *Cluster) int {
	l, err := c.Leader(ctx)
	if err != nil {
		return -1
	}
	cl, _ := l.Client()
	r, err := cl.Control.ListTasks(ctx, &api.ListTasksRequest{DesiredStates: []api.TaskState{api.TaskState_TASK_STATE_RUNNING}})
	if err != nil {
		return -1
	}
	n := 0
	for _, t := range r.GetTasks() {
		if t.GetStatus().GetState() == api.TaskState_TASK_STATE_RUNNING {
			n++
		}
	}
	return n
}

func rssList(ms []*Manager) string {
	var parts []string
	for _, m := range ms {
		parts = append(parts, fmt.Sprintf("%s %d MiB", m.Name, rssMiB(m)))
	}
	return strings.Join(parts, ", ")
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// rssMiB is the daemon's resident set (VmRSS) in MiB.
func rssMiB(m *Manager) int {
	if !m.Running() {
		return -1
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return kb / 1024
		}
	}
	return -1
}
