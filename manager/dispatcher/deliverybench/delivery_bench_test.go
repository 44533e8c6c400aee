package deliverybench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minsw/minsw/chaos"
	"github.com/minsw/minsw/client"
	"github.com/minsw/minsw/internal/procstat"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// BenchmarkDelivery creates MINSW_DELIVERY_SERVICES services (default
// 1,000) of MINSW_DELIVERY_REPLICAS replicas (default 10) on one drained
// manager daemon and MINSW_DELIVERY_WORKERS worker daemons (default 2, fake
// executor), all with the daemon's own timings, and prints:
//
//   - delivery: the time from the first create to every task reported
//     running, the raft entries written meanwhile (store version delta) and
//     the dispatcher's own count of task-status entries and bytes (from the
//     manager's log), and the manager's peak and final RSS;
//   - manager restart: the manager stopped (SIGTERM) and started again, so
//     every worker reconnects at once: the time until every task is running
//     in its store again, the raft entries that cost, and the peak RSS in
//     the 30 s after;
//   - worker restart: one worker daemon killed and started again (the fake
//     executor loses its containers, so its tasks are replaced): the time
//     until every task runs again and the peak RSS.
//
// No timed assertion: the figures are printed, and the run fails only when a
// stage does not finish within its (generous) bound.
func BenchmarkDelivery(b *testing.B) {
	services, replicas := envInt("MINSW_DELIVERY_SERVICES", 1000), envInt("MINSW_DELIVERY_REPLICAS", 10)
	workers := envInt("MINSW_DELIVERY_WORKERS", 2)
	want := services * replicas
	bin := build(b)
	ctx := context.Background()
	dir := b.TempDir()
	c, err := chaos.NewCluster(bin, dir, 1, os.Getgid())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	m := c.Managers[0]
	m.Timings = []string{"--log-level", "info"}
	profiles := os.Getenv("MINSW_DELIVERY_PROFILE") // a directory: CPU and heap profiles go there
	var wflags []string
	if profiles != "" {
		m.Timings = append(m.Timings, "--pprof")
		wflags = []string{"--pprof"}
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := c.Start(sctx); err != nil {
		b.Fatal(err)
	}
	if err := c.DrainManagers(sctx); err != nil {
		b.Fatal(err)
	}
	ws, err := c.AddWorkers(sctx, dir, workers, append([]string{}, wflags...))
	defer func() {
		for _, w := range ws {
			w.Kill()
		}
	}()
	if err != nil {
		b.Fatal(err)
	}
	cl, err := m.Client()
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("load before: %s", load())

	rss := newSampler(m)
	v0 := storeVersion(ctx, cl)
	start := time.Now()
	var profWG sync.WaitGroup
	if profiles != "" {
		// 30 s of CPU of the manager and of one worker, from 10 s into the
		// delivery, then the manager's heap.
		for _, p := range []*chaos.Manager{m, ws[0]} {
			profWG.Add(1)
			go func() {
				defer profWG.Done()
				time.Sleep(10 * time.Second)
				if err := p.Profile(ctx, "profile?seconds=30", filepath.Join(profiles, p.Name+"-cpu.pprof")); err != nil {
					b.Log(err)
				}
				if err := p.Profile(ctx, "heap", filepath.Join(profiles, p.Name+"-heap.pprof")); err != nil {
					b.Log(err)
				}
			}()
		}
	}
	created := create(ctx, b, cl, services, replicas)
	b.Logf("%d services created in %v", created.n, created.dur.Round(time.Millisecond))
	if err := waitRunning(ctx, cl, want, 20*time.Minute, nil); err != nil {
		b.Fatal(err)
	}
	delivered := time.Since(start)
	profWG.Wait()
	v1 := storeVersion(ctx, cl)
	peak := rss.stop()
	entries, tasks, bytes := statusWrites(m)
	fmt.Printf("delivery: %d services x %d replicas on %d workers: all %d running %v after the first create (creates took %v); raft entries %d (status writes: %d entries, %d task updates, %.1f MiB); manager RSS peak %d MiB, now %d MiB; load %s\n",
		services, replicas, workers, want, delivered.Round(time.Millisecond), created.dur.Round(time.Millisecond), v1-v0,
		entries, tasks, float64(bytes)/(1<<20), peak, rssMiB(m), load())

	// Every worker reconnects at once: the manager restarts.
	time.Sleep(5 * time.Second)
	m.Stop()
	restart := time.Now()
	if err := m.Start(ctx); err != nil {
		b.Fatal(err)
	}
	rss = newSampler(m)
	if err := waitRunning(ctx, cl, want, 10*time.Minute, nil); err != nil {
		b.Fatal(err)
	}
	back := time.Since(restart)
	va := storeVersion(ctx, cl)
	time.Sleep(30 * time.Second)
	vb := storeVersion(ctx, cl)
	peak = rss.stop()
	e2, t2, by2 := statusWrites(m)
	fmt.Printf("manager restart: all %d running in its store %v after the restart; raft entries in the 30 s after %d; status writes since the restart: %d entries, %d task updates, %.1f MiB; manager RSS peak %d MiB, now %d MiB; load %s\n",
		want, back.Round(time.Millisecond), vb-va, e2, t2, float64(by2)/(1<<20), peak, rssMiB(m), load())

	// One worker crashes and comes back empty (fake executor): its tasks
	// fail and are replaced.
	w := ws[0]
	w.Kill()
	wstart := time.Now()
	if err := w.Start(ctx); err != nil {
		b.Fatal(err)
	}
	rss = newSampler(m)
	v2 := storeVersion(ctx, cl)
	// Its tasks count as running until it reports them failed: wait for
	// the drop first (or a minute, if none comes).
	dropped := false
	if err := waitRunning(ctx, cl, want, 20*time.Minute, func(n int) bool {
		dropped = dropped || n < want
		return dropped && n >= want || time.Since(wstart) > time.Minute && n >= want
	}); err != nil {
		b.Fatal(err)
	}
	wback := time.Since(wstart)
	v3 := storeVersion(ctx, cl)
	peak = rss.stop()
	fmt.Printf("worker restart: all %d running again %v after %s was killed and restarted; raft entries %d; manager RSS peak %d MiB, now %d MiB; load %s\n",
		want, wback.Round(time.Millisecond), w.Name, v3-v2, peak, rssMiB(m), load())
	b.ReportMetric(delivered.Seconds(), "delivery-s")
	b.ReportMetric(float64(peak), "peak-RSS-MiB")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func build(b *testing.B) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "minsw-delivery-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "minsw")
		if out, err := exec.Command("go", "build", "-o", binPath, "../../../cmd/minsw").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building minsw: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return binPath
}

type creation struct {
	n   int
	dur time.Duration
}

// create makes the services with 8 clients, as a deploy script would.
func create(ctx context.Context, b *testing.B, cl *client.Client, services, replicas int) creation {
	start := time.Now()
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(services) {
					return
				}
				sp := &api.ServiceSpec{Name: fmt.Sprintf("d%05d", i),
					Mode: &api.ServiceSpec_Replicated{Replicated: &api.ReplicatedService{Replicas: uint64(replicas)}},
					Task: &api.TaskSpec{Container: &api.ContainerSpec{Image: "busybox", Env: []string{"A=1"}}}}
				key := fmt.Sprintf("delivery-%d", i)
				var err error
				for try := 0; try < 20; try++ {
					cctx, cancel := context.WithTimeout(ctx, time.Minute)
					_, err = cl.Control.CreateService(cctx, &api.CreateServiceRequest{Spec: sp, IdempotencyKey: key, CommittedOnly: true})
					cancel()
					if err == nil || strings.Contains(err.Error(), "already") {
						err = nil
						break
					}
					time.Sleep(200 * time.Millisecond)
				}
				if err != nil {
					failed.Add(1)
					b.Logf("create %s: %v", sp.Name, err)
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		b.Fatalf("%d creates failed", failed.Load())
	}
	return creation{n: services, dur: time.Since(start)}
}

// waitRunning polls every 2 s until want tasks are reported running, or,
// when ready is given, until ready says so of a poll's count.
func waitRunning(ctx context.Context, cl *client.Client, want int, limit time.Duration, ready func(n int) bool) error {
	deadline := time.Now().Add(limit)
	n := -1
	for time.Now().Before(deadline) {
		n = running(ctx, cl)
		if n >= 0 && ready != nil {
			if ready(n) {
				return nil
			}
		} else if n >= want {
			return nil
		}
		time.Sleep(2 * time.Second)
	}
	return fmt.Errorf("only %d of %d tasks running after %v", n, want, limit)
}

func running(ctx context.Context, cl *client.Client) int {
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	r, err := cl.Control.ListTasks(cctx, &api.ListTasksRequest{DesiredStates: []api.TaskState{api.TaskState_TASK_STATE_RUNNING}})
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

func storeVersion(ctx context.Context, cl *client.Client) uint64 {
	for range 100 {
		r, err := cl.Control.ListServices(ctx, &api.ListServicesRequest{PageSize: 1})
		if err == nil {
			return r.GetStoreVersion()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return 0
}

// statusWrites reads the dispatcher's last "task status writes" log line
// of the manager's current run: raft entries, task updates, bytes.
func statusWrites(m *chaos.Manager) (entries, tasks, bytes int64) {
	f, err := os.Open(filepath.Join(m.Dir, "daemon.log"))
	if err != nil {
		return -1, -1, -1
	}
	defer f.Close()
	re := regexp.MustCompile(`task status writes.*entries=(\d+) tasks=(\d+) bytes=(\d+)`)
	entries, tasks, bytes = -1, -1, -1
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "dispatcher started") {
			entries, tasks, bytes = 0, 0, 0
		}
		if g := re.FindStringSubmatch(line); g != nil {
			entries, _ = strconv.ParseInt(g[1], 10, 64)
			tasks, _ = strconv.ParseInt(g[2], 10, 64)
			bytes, _ = strconv.ParseInt(g[3], 10, 64)
		}
	}
	return entries, tasks, bytes
}

// sampler records the manager's peak RSS, once a second.
type sampler struct {
	stopc chan struct{}
	done  chan struct{}
	peak  atomic.Int64
}

func newSampler(m *chaos.Manager) *sampler {
	s := &sampler{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			if r := int64(rssMiB(m)); r > s.peak.Load() {
				s.peak.Store(r)
			}
			select {
			case <-s.stopc:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) stop() int64 {
	close(s.stopc)
	<-s.done
	return s.peak.Load()
}

// rssMiB is the resident set of the daemon whose data root is m's, found
// by its command line (a process this benchmark started).
func rssMiB(m *chaos.Manager) int {
	want := filepath.Join(m.Dir, "data")
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !strings.Contains(string(cmd), "\x00"+want+"\x00") {
			continue
		}
		kib, ok := procstat.RSSKiB(pid)
		if !ok {
			return -1
		}
		return int(kib / 1024)
	}
	return -1
}

func load() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
