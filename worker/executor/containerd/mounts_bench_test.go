package containerd

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/minsw/minsw/worker/executor"
	"github.com/minsw/minsw/worker/volume"
)

// BenchmarkCreateStartWithStorage times one task from assigned to running,
// image present, with what the issue names: 1 named volume (made ready in
// the node's volume store, as the agent does), 2 secrets and 1 config on
// the container's tmpfs (issue target: < 400 ms, goal < 150 ms). The
// baseline without storage is BenchmarkCreateStart.
func BenchmarkCreateStartWithStorage(b *testing.B) {
	b.Run("copy-up", func(b *testing.B) { benchStorage(b, true) })
	b.Run("nocopy", func(b *testing.B) { benchStorage(b, false) })
}

func benchStorage(b *testing.B, copyUp bool) {
	e := newExecutor(b)
	ctx := context.Background()
	if err := e.Pull(ctx, "busybox"); err != nil {
		b.Fatal(err)
	}
	vols, err := volume.New(filepath.Join(b.TempDir(), "volumes"), nil)
	if err != nil {
		b.Fatal(err)
	}
	var worst time.Duration
	for i := 0; i < b.N; i++ {
		id := newID()
		start := time.Now()
		src, err := vols.Use("benchdata", nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		spec := executor.Spec{ID: id, Name: "bench", Image: "busybox", Command: []string{"sleep", "1000"},
			Mounts: []executor.Mount{{Kind: executor.MountBind, Source: src, Target: "/data", Volume: "benchdata", CopyUp: copyUp}},
			Files: []executor.File{
				{Target: "/run/secrets/db_password", Data: []byte("hunter2"), Mode: 0o400},
				{Target: "/run/secrets/api_key", Data: []byte("k3y"), UID: 1000, GID: 1000, Mode: 0o400},
				{Target: "/etc/app.conf", Data: []byte("listen 80\n"), Mode: 0o444},
			}}
		if err := e.Pull(ctx, "busybox"); err != nil {
			b.Fatal(err)
		}
		if err := e.Create(ctx, spec); err != nil {
			b.Fatal(err)
		}
		if err := e.Start(ctx, id); err != nil {
			b.Fatal(err)
		}
		worst = max(worst, time.Since(start))
		b.StopTimer()
		removeAll(b, e, []string{id})
		b.StartTimer()
	}
	b.ReportMetric(float64(worst.Milliseconds()), "worst-ms")
}
