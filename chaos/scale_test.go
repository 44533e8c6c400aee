package chaos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minsw/minsw/internal/procstat"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// BenchmarkManagerRSSAfterRestart fills a cluster of MINSW_SCALE_MANAGERS
// managers (default 3, drained) and MINSW_SCALE_WORKERS worker daemons
// (default 4, fake executor) with MINSW_SCALE_SERVICES services of
// MINSW_SCALE_REPLICAS replicas (default 10,000 x 10 = 100,000 tasks)
// through the real API, stops every manager (SIGTERM) and starts them
// again, and reports the time from the restart to the first accepted write
// and the first current read, and each manager's resident memory right
// after that, 90 s after the restart, and once the workers' tasks are
// reported running again.
//
// MINSW_SCALE_SEED=dir keeps the filled cluster's data dirs there (all
// daemons stopped cleanly, then started again before the measured
// restart) and starts later runs from them: the fill through the API takes
// many minutes at this scale, a seeded run a few. Either way the state is
// made by the real daemons through their API, and the measured part (the
// managers' restart) is the same. MINSW_SCALE_PROFILES=dir saves each
// manager's heap profile (the daemons run with --pprof) at each point,
// and the leader's CPU profile during the fill.
//
//	go test -run '^$' -bench ManagerRSS -benchtime 1x -timeout 60m ./chaos/
func BenchmarkManagerRSSAfterRestart(b *testing.B) {
	services, replicas := envInt("MINSW_SCALE_SERVICES", 10_000), envInt("MINSW_SCALE_REPLICAS", 10)
	managers, workers := envInt("MINSW_SCALE_MANAGERS", 3), envInt("MINSW_SCALE_WORKERS", 4)
	profDir, seedDir := os.Getenv("MINSW_SCALE_PROFILES"), os.Getenv("MINSW_SCALE_SEED")
	want := services * replicas
	ctx := context.Background()
	dir := b.TempDir()
	// The daemon's own timings: a restart is measured as users get it.
	managerFlags := []string{"--log-level", "info", "--pprof"}
	var c *Cluster
	var ws []*Manager
	defer func() {
		for _, w := range ws {
			w.Kill()
		}
		if c != nil {
			c.Close()
		}
	}()
	start := time.Now()
	seeded := false
	if seedDir != "" {
		var err error
		if c, ws, seeded, err = LoadSeed(binPath, seedDir, dir, services, replicas, os.Getgid()); err != nil {
			b.Fatal(err)
		}
	}
	if seeded {
		for _, m := range c.Managers {
			m.Timings = managerFlags
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		if err := StartAll(sctx, append(append([]*Manager{}, c.Managers...), ws...)); err != nil {
			b.Fatal(err)
		}
		b.Logf("started from the seed in %s", seedDir)
	} else {
		c, ws = fill(ctx, b, dir, managers, workers, services, replicas, managerFlags, profDir)
		b.Logf("%d services created in %v [load %s]", services, time.Since(start).Round(time.Second), loadAvg())
	}
	if err := waitRunning(ctx, c, want, 40*time.Minute); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d tasks running %v after the start [load %s]", want, time.Since(start).Round(time.Second), loadAvg())
	if seedDir != "" && !seeded {
		all := append(append([]*Manager{}, ws...), c.Managers...)
		for _, m := range all {
			m.Stop()
		}
		if err := SaveSeed(seedDir, services, replicas, c.Managers, ws); err != nil {
			b.Fatal(err)
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		if err := StartAll(sctx, all); err != nil {
			b.Fatal(err)
		}
		if err := waitRunning(ctx, c, want, 20*time.Minute); err != nil {
			b.Fatal(err)
		}
		b.Logf("seed saved in %s; started again, %d tasks running [load %s]", seedDir, want, loadAvg())
	}
	if err := c.WaitHealthy(ctx); err != nil {
		b.Fatal(err)
	}
	peak := 0 // the largest RSS of any manager at any point after the restart
	snapshot := func(point string) string {
		if point != "before" {
			for _, m := range c.Managers {
				peak = max(peak, rssMiB(m))
			}
		}
		if profDir != "" {
			for _, m := range c.Managers {
				if err := m.Profile(ctx, "heap", filepath.Join(profDir, point+"-heap-"+m.Name+".pprof")); err != nil {
					b.Log(err)
				}
				// The text form ends with the runtime's MemStats: how much
				// of the resident set is live heap, heap the collector has
				// not yet handed back, or its next goal.
				if err := m.Profile(ctx, "heap?debug=1", filepath.Join(profDir, point+"-memstats-"+m.Name+".txt")); err != nil {
					b.Log(err)
				}
			}
		}
		return rssList(c.Managers)
	}
	b.Logf("before the restart: %s", snapshot("before"))

	var stop sync.WaitGroup
	for _, m := range c.Managers {
		stop.Add(1)
		exited := make(chan struct{})
		if profDir != "" {
			// A slow SIGTERM shows where it waits: the goroutines of a
			// manager still up after 5 s.
			go func() {
				select {
				case <-exited:
				case <-time.After(5 * time.Second):
					_ = m.Profile(ctx, "goroutine?debug=2", filepath.Join(profDir, "sigterm-goroutines-"+m.Name+".txt"))
				}
			}()
		}
		go func() {
			defer stop.Done()
			took, killed := m.StopTimed()
			close(exited)
			b.Logf("%s stopped by SIGTERM in %v (killed after 20 s: %v)", m.Name, took.Round(time.Millisecond), killed)
		}()
	}
	stop.Wait()
	termsBefore := leaderTerms(c.Managers)
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
	atServe := snapshot("served")
	b.Logf("first read %v, first write %v after the restart; RSS then: %s [load %s]", firstRead.Round(time.Millisecond), firstWrite.Round(time.Millisecond), atServe, loadAvg())
	// The tasks' return is watched from here; the 90 s figure is taken on
	// the way, whether or not they are all back by then.
	var settled time.Duration
	at90 := ""
	for settled == 0 || at90 == "" {
		if at90 == "" && time.Since(restart) >= 90*time.Second {
			at90 = snapshot("90s")
			b.Logf("90 s after the restart: RSS %s [load %s]", at90, loadAvg())
		}
		if settled == 0 && running(ctx, c) >= want {
			settled = time.Since(restart)
			b.Logf("all %d tasks reported running %v after the restart", want, settled.Round(time.Second))
		}
		if time.Since(restart) > 20*time.Minute {
			b.Fatalf("only %d of %d tasks running 20 minutes after the restart", running(ctx, c), want)
		}
		time.Sleep(5 * time.Second)
	}
	atSettled := snapshot("settled")
	elected, stored := leaderTerms(c.Managers)-termsBefore, storedTasks(ctx, c)
	fmt.Printf("%d managers with %d services / %d tasks (on %d workers), after a restart of all: first current read %v, first write %v; all tasks reported running again after %v; manager RSS at first write: %s; 90 s after the restart: %s; settled: %s (max %d MiB); leaders elected since the restart: %d; tasks in the store: %d [load %s]\n",
		managers, services, want, workers, firstRead.Round(time.Millisecond), firstWrite.Round(time.Millisecond), settled.Round(time.Second), atServe, at90, atSettled, peak, elected, stored, loadAvg())
	if d, err := time.ParseDuration(os.Getenv("MINSW_SCALE_HOLD")); err == nil {
		b.Logf("holding %v: data in %s", d, dir)
		time.Sleep(d)
	}
	b.ReportMetric(float64(peak), "max-RSS-MiB")
	b.ReportMetric(firstRead.Seconds(), "first-read-s")
	b.ReportMetric(firstWrite.Seconds(), "first-write-s")
}

// fill starts a fresh cluster (managers drained, workers joined) and
// creates the services through the leader's API.
func fill(ctx context.Context, b *testing.B, dir string, managers, workers, services, replicas int, managerFlags []string, profDir string) (*Cluster, []*Manager) {
	c, err := NewCluster(binPath, dir, managers, os.Getgid())
	if err != nil {
		b.Fatal(err)
	}
	c.KeepWorkerTasks = true // a seed's workers come back with their tasks
	for _, m := range c.Managers {
		m.Timings = managerFlags
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := c.Start(sctx); err != nil {
		c.Close()
		b.Fatal(err)
	}
	var ws []*Manager
	err = c.DrainManagers(sctx)
	if err == nil {
		ws, err = c.AddWorkers(sctx, dir, workers, []string{})
	}
	var leader *Manager
	if err == nil {
		leader, err = c.Leader(ctx)
	}
	if err != nil {
		for _, w := range ws {
			w.Kill()
		}
		c.Close()
		b.Fatal(err)
	}
	if profDir != "" {
		go func() {
			time.Sleep(20 * time.Second)
			if err := leader.Profile(ctx, "profile?seconds=20", filepath.Join(profDir, "fill-cpu-"+leader.Name+".pprof")); err != nil {
				b.Log(err)
			}
		}()
	}
	if failed := createServices(ctx, leader, services, replicas, 16); failed > 0 {
		b.Logf("%d creates failed", failed)
	}
	return c, ws
}

// createServices creates services s00000... of replicas each through the
// leader's API with n clients at once, and returns how many failed.
func createServices(ctx context.Context, leader *Manager, services, replicas, n int) int64 {
	cl, _ := leader.Client()
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
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
	return failed.Load()
}

// loadAvg is the machine's 1-minute load average, reported beside each
// figure: the benchmark's timings depend on it.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
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

// storedTasks counts every task the leader's store holds (any state):
// replacements of lost tasks show as more than the services' replicas.
func storedTasks(ctx context.Context, c *Cluster) int {
	l, err := c.Leader(ctx)
	if err != nil {
		return -1
	}
	cl, _ := l.Client()
	r, err := cl.Control.ListTasks(ctx, &api.ListTasksRequest{})
	if err != nil {
		return -1
	}
	return len(r.GetTasks())
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
	kib, ok := procstat.RSSKiB(m.cmd.Process.Pid)
	if !ok {
		return -1
	}
	return int(kib / 1024)
}

// leaderTerms counts the terms the managers' logs say they began leading
// (all of their runs so far): elections that made a leader.
func leaderTerms(ms []*Manager) int {
	n := 0
	for _, m := range ms {
		b, err := os.ReadFile(filepath.Join(m.Dir, "daemon.log"))
		if err == nil {
			n += strings.Count(string(b), `msg="became leader"`)
		}
	}
	return n
}
