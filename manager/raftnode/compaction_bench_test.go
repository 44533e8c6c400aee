package raftnode

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/manager/encryption"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

var compactionUpdates = flag.Int("compaction-updates", 50000, "updates of one service BenchmarkRaftDBSize makes")

// BenchmarkRaftDBSize updates one service -compaction-updates times on an
// encrypted one-manager raft with the default compaction settings and
// reports the size raft.db and the snapshots reach (the figure:
// raft.db after 50,000 updates of one service). The figure is a size, so
// it makes one run whatever b.N (about a minute here):
//
//	go test -run - -bench RaftDBSize ./manager/raftnode/
func BenchmarkRaftDBSize(b *testing.B) {
	for range 1 {
		dir := b.TempDir()
		_, tr := raft.NewInmemTransport("solo")
		cfg := DefaultConfig()
		cfg.ID, cfg.Transport, cfg.Bootstrap, cfg.DataDir = "solo", tr, true, dir
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 300*time.Millisecond, 300*time.Millisecond, 150*time.Millisecond
		k, err := encryptionKey()
		if err != nil {
			b.Fatal(err)
		}
		cfg.Cipher = k
		st := store.New(nil, nil)
		n, err := New(cfg, st)
		if err != nil {
			b.Fatal(err)
		}
		for !n.IsLeader() {
			time.Sleep(10 * time.Millisecond)
		}
		ctx := context.Background()
		if err := st.Update(ctx, func(tx *store.Tx) error {
			return tx.Create(&api.Service{Id: "svc", Meta: &api.Meta{}, Spec: &api.ServiceSpec{Name: "web",
				Task: &api.TaskSpec{Container: &api.ContainerSpec{Image: "containous/whoami:latest", Env: []string{"A=1", "B=2"}}}}})
		}); err != nil {
			b.Fatal(err)
		}
		began := time.Now()
		var peak int64
		for u := 0; u < *compactionUpdates; u++ {
			if err := st.Update(ctx, func(tx *store.Tx) error {
				s := proto.Clone(tx.Service("svc")).(*api.Service)
				if s.Spec.Labels == nil {
					s.Spec.Labels = map[string]string{}
				}
				s.Spec.Labels["update"] = strconv.Itoa(u)
				return tx.Update(s)
			}); err != nil {
				b.Fatal(err)
			}
			if u%1000 == 0 {
				peak = max(peak, fileSize(filepath.Join(dir, "raft", "raft.db")))
			}
		}
		took := time.Since(began)
		db := fileSize(filepath.Join(dir, "raft", "raft.db"))
		peak = max(peak, db)
		first, _ := n.logs.FirstIndex()
		last, _ := n.logs.LastIndex()
		snapIdx := n.Stats()["last_snapshot_index"]
		_ = n.Shutdown()
		var snapBytes int64
		_ = filepath.Walk(filepath.Join(dir, "raft", "snapshots"), func(_ string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				snapBytes += fi.Size()
			}
			return nil
		})
		b.Logf("%d updates of one service in %v: raft.db %.2f MB (peak %.2f MB), log entries %d..%d, last snapshot at %s, snapshots %.1f KB",
			*compactionUpdates, took.Round(time.Millisecond), float64(db)/1e6, float64(peak)/1e6, first, last, snapIdx, float64(snapBytes)/1e3)
		b.ReportMetric(float64(db)/1e6, "raft.db-MB")
		b.ReportMetric(float64(peak)/1e6, "peak-raft.db-MB")
		b.ReportMetric(float64(*compactionUpdates)/took.Seconds(), "updates/s")
	}
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func encryptionKey() (*encryption.AEAD, error) {
	k, err := encryption.NewKey()
	if err != nil {
		return nil, err
	}
	return encryption.New(k, "raft benchmark")
}
