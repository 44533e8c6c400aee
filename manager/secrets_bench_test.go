package manager

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// BenchmarkSecrets1000ManagerRSS creates 1,000 secrets of 1 KiB each
// through a real manager's Control API (raft log on disk, sealed) and
// reports the manager process's RSS growth and the Go heap growth (issue
// target: < 50 MiB, goal < 20 MiB), with the time per create.
func BenchmarkSecrets1000ManagerRSS(b *testing.B) {
	for i := 0; i < b.N; i++ {
		ms := managers(b, 1)
		ctl := api.NewControlClient(dialB(b, ms[0]))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		data := make([]byte, 1024)
		for j := range data {
			data[j] = byte('a' + j%26)
		}
		// Warm up the API path so the figure is the secrets' own cost.
		if _, err := ctl.ListSecrets(ctx, &api.ListSecretsRequest{}); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		rss0 := rssKiB()
		start := time.Now()
		for j := 0; j < 1000; j++ {
			if _, err := ctl.CreateSecret(ctx, &api.CreateSecretRequest{Spec: &api.SecretSpec{Name: fmt.Sprintf("secret-%04d", j), Data: data}}); err != nil {
				b.Fatal(err)
			}
		}
		el := time.Since(start)
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		ls, err := ctl.ListSecrets(ctx, &api.ListSecretsRequest{})
		if err != nil || len(ls.GetSecrets()) != 1000 {
			b.Fatalf("list: %d %v", len(ls.GetSecrets()), err)
		}
		cancel()
		b.ReportMetric(float64(rssKiB()-rss0)/1024, "rss-growth-MiB")
		b.ReportMetric((float64(after.HeapInuse)-float64(before.HeapInuse))/(1<<20), "heap-growth-MiB")
		b.ReportMetric(float64(el.Microseconds())/1000/1000, "ms/create")
	}
}
