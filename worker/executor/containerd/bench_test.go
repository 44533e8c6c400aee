package containerd

import (
	"context"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/minsw/minsw/internal/procstat"
	"github.com/minsw/minsw/internal/testenv"
	"github.com/minsw/minsw/worker/executor"
)

// assignedToRunning is what the agent does for one assigned task whose image
// is present: Pull (a no-op), Create, Start.
func assignedToRunning(ctx context.Context, e *Executor, id string) error {
	if err := e.Pull(ctx, "busybox"); err != nil {
		return err
	}
	if err := e.Create(ctx, executor.Spec{ID: id, Name: "bench", Image: "busybox", Command: []string{"sleep", "1000"}}); err != nil {
		return err
	}
	return e.Start(ctx, id)
}

func removeAll(b *testing.B, e *Executor, ids []string) {
	b.Helper()
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			if err := e.Remove(context.Background(), id); err != nil {
				b.Error(err)
			}
		}(id)
	}
	wg.Wait()
}

// BenchmarkCreateStart times one task from assigned to running, image present
// (issue target: < 300 ms, goal < 100 ms).
func BenchmarkCreateStart(b *testing.B) {
	e := newExecutor(b)
	ctx := context.Background()
	if err := e.Pull(ctx, "busybox"); err != nil {
		b.Fatal(err)
	}
	var worst time.Duration
	for i := 0; i < b.N; i++ {
		id := newID()
		start := time.Now()
		if err := assignedToRunning(ctx, e, id); err != nil {
			b.Fatal(err)
		}
		worst = max(worst, time.Since(start))
		b.StopTimer()
		removeAll(b, e, []string{id})
		b.StartTimer()
	}
	b.ReportMetric(float64(worst.Milliseconds()), "worst-ms")
}

// BenchmarkCreateStart20 times 20 tasks on one node from assigned to all
// running, started concurrently as the agent does (target < 3 s, goal < 1 s).
func BenchmarkCreateStart20(b *testing.B) {
	e := newExecutor(b)
	ctx := context.Background()
	if err := e.Pull(ctx, "busybox"); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		ids := make([]string, 20)
		for j := range ids {
			ids[j] = newID()
		}
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Add(1)
			go func(id string) {
				defer wg.Done()
				if err := assignedToRunning(ctx, e, id); err != nil {
					b.Error(err)
				}
			}(id)
		}
		wg.Wait()
		b.StopTimer()
		removeAll(b, e, ids)
		b.StartTimer()
	}
}

// BenchmarkRunning50 starts 50 containers and reports this process's
// resident memory with them running (the executor's share of the worker
// daemon's RSS; issue target < 150 MiB, goal < 60 MiB, for the whole daemon)
// and the shims' total.
func BenchmarkRunning50(b *testing.B) {
	e := newExecutor(b)
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		ids := make([]string, 50)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 10)
		for j := range ids {
			ids[j] = newID()
			wg.Add(1)
			go func(id string) {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				if err := assignedToRunning(ctx, e, id); err != nil {
					b.Error(err)
				}
			}(ids[j])
		}
		wg.Wait()
		all, err := e.List(ctx)
		if err != nil || len(all) != 50 {
			b.Fatalf("list: %d %v", len(all), err)
		}
		runtime.GC()
		b.ReportMetric(float64(rssKiB(os.Getpid()))/1024, "rss-MiB")
		var shims int
		for _, pid := range testenv.ShimPids(env.ctrd.Address) {
			shims += rssKiB(pid)
		}
		b.ReportMetric(float64(shims)/1024, "shims-rss-MiB")
		b.StopTimer()
		removeAll(b, e, ids)
		b.StartTimer()
	}
}

func rssKiB(pid int) int {
	kib, _ := procstat.RSSKiB(pid)
	return int(kib)
}
