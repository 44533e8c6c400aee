package manager

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minsw/minsw/internal/procstat"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// BenchmarkServiceCreates3Managers measures service creates per second
// through a three-manager cluster whose raft log is on disk (raft-boltdb,
// fsync on every batch), with 32 clients calling the leader's Control API
// over gRPC.
func BenchmarkServiceCreates3Managers(b *testing.B) {

	ms := threeManagersB(b)
	var leader *Manager
	for _, m := range ms {
		if m.IsLeader() {
			leader = m
		}
	}

	ctl := api.NewControlClient(dialB(b, leader))
	ctx := context.Background()
	const clients = 32
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				spec := service(fmt.Sprintf("svc%d", i))
				spec.Mode = &api.ServiceSpec_Replicated{Replicated: &api.ReplicatedService{Replicas: 0}}
				if _, err := ctl.CreateService(ctx, &api.CreateServiceRequest{Spec: spec}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "creates/s")
}

// BenchmarkStoreMemory10kServices100kTasks measures what a manager's store
// holds in memory for 10,000 services with 10 tasks each.
func BenchmarkStoreMemory10kServices100kTasks(b *testing.B) {
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		st := store.New(nil, nil)
		ctx := context.Background()
		spec := func(n int) *api.ServiceSpec {
			return &api.ServiceSpec{Name: fmt.Sprintf("svc%05d", n), Mode: &api.ServiceSpec_Replicated{Replicated: &api.ReplicatedService{Replicas: 10}},
				Task: &api.TaskSpec{Container: &api.ContainerSpec{Image: "containous/whoami", Env: []string{"A=1"}},
					Networks: []*api.NetworkAttachmentConfig{{Target: "net1"}}}}
		}
		if err := st.Batch(ctx, 10_000, 2000, func(tx *store.Tx, n int) error {
			s := spec(n)
			if err := tx.Create(&api.Service{Id: fmt.Sprintf("s%024d", n), Meta: &api.Meta{}, Spec: s, SpecVersion: 1,
				Endpoint: &api.Endpoint{VirtualIps: []*api.VirtualIP{{NetworkId: "net1", Addr: fmt.Sprintf("10.1.%d.%d/16", n/250, n%250+2), Fwmark: uint32(0x100 + n)}}}}); err != nil {
				return err
			}
			for slot := 1; slot <= 10; slot++ {
				if err := tx.Create(&api.Task{Id: fmt.Sprintf("t%019d%05d", n, slot), Meta: &api.Meta{}, Spec: s.Task, ServiceId: fmt.Sprintf("s%024d", n),
					Slot: uint64(slot), NodeId: fmt.Sprintf("node%03d", slot), ServiceName: s.Name, DesiredState: api.TaskState_TASK_STATE_RUNNING,
					Status:   &api.TaskStatus{State: api.TaskState_TASK_STATE_RUNNING, Message: "started"},
					Networks: []*api.NetworkAttachment{{NetworkId: "net1", Addresses: []string{"10.0.1.3/24"}, MacAddress: "02:42:0a:00:01:03"}}}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/(1<<20), "heapMiB")
		b.ReportMetric(float64(rssKiB())/1024, "rssMiB")
		runtime.KeepAlive(st)
	}
}

func rssKiB() int64 {
	kib, _ := procstat.RSSKiB(0)
	return kib
}
