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

// BenchmarkManagerRSSAfterRestart fills one manager (fake executor, so it
// is its own worker) with MINSW_SCALE_SERVICES services of
// MINSW_SCALE_REPLICAS replicas (default 10,000 x 10 = 100,000 tasks),
// restarts it, and reports its resident memory once it serves again, with
// the time to its first accepted write and first read after the restart.
//
//	go test -run '^$' -bench ManagerRSS -benchtime 1x -timeout 60m ./chaos/
func BenchmarkManagerRSSAfterRestart(b *testing.B) {
	services, replicas := envInt("MINSW_SCALE_SERVICES", 10_000), envInt("MINSW_SCALE_REPLICAS", 10)
	ctx := context.Background()
	c, err := NewCluster(binPath, b.TempDir(), 1, os.Getgid())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	m := c.Managers[0]
	cl, _ := m.Client()
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
				if err := retry(ctx, func() error {
					_, err := cl.Control.CreateService(ctx, &api.CreateServiceRequest{Spec: sp})
					if err != nil && strings.Contains(err.Error(), "already exists") {
						return nil
					}
					return err
				}); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	b.Logf("%d services created in %v (%d failed)", services, time.Since(start).Round(time.Second), failed.Load())
	want := services * replicas
	tasks := func() int {
		r, err := cl.Control.ListTasks(ctx, &api.ListTasksRequest{DesiredStates: []api.TaskState{api.TaskState_TASK_STATE_RUNNING}})
		if err != nil {
			return -1
		}
		return len(r.GetTasks())
	}
	deadline := time.Now().Add(30 * time.Minute)
	for n := tasks(); n < want; n = tasks() {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d tasks after 30 minutes", n, want)
		}
		time.Sleep(2 * time.Second)
	}
	b.Logf("%d tasks in %v; RSS before restart %d MiB", want, time.Since(start).Round(time.Second), rssMiB(m))

	m.Stop()
	restart := time.Now()
	if err := m.Start(ctx); err != nil {
		b.Fatal(err)
	}
	var firstRead, firstWrite time.Duration
	for firstRead == 0 || firstWrite == 0 {
		if firstRead == 0 {
			if _, err := cl.Control.GetService(ctx, &api.GetServiceRequest{Ref: "s00000"}); err == nil {
				firstRead = time.Since(restart)
			}
		}
		if firstWrite == 0 {
			if _, err := cl.Control.CreateService(ctx, &api.CreateServiceRequest{Spec: spec("after-restart", "v")}); err == nil {
				firstWrite = time.Since(restart)
			}
		}
		time.Sleep(50 * time.Millisecond)
		if time.Since(restart) > 10*time.Minute {
			b.Fatal("the manager did not serve within 10 minutes of its restart")
		}
	}
	for n := tasks(); n < want; n = tasks() {
		time.Sleep(time.Second)
	}
	time.Sleep(5 * time.Second) // settled
	rss := rssMiB(m)
	fmt.Printf("manager with %d services / %d tasks, after a restart: RSS %d MiB; first read %v, first write %v\n",
		services, want, rss, firstRead.Round(time.Millisecond), firstWrite.Round(time.Millisecond))
	b.ReportMetric(float64(rss), "RSS-MiB")
	b.ReportMetric(firstWrite.Seconds(), "first-write-s")
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// rssMiB is the daemon's resident set (VmRSS) in MiB.
func rssMiB(m *Manager) int {
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
