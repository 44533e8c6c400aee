package node_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// BenchmarkReplicas50ToConverged measures `service create --replicas 50`
// on a single-node swarm (a real daemon process, in-memory executor): from
// the create call to all 50 tasks reported running in the store.
func BenchmarkReplicas50ToConverged(b *testing.B) {
	dir, err := os.MkdirTemp("", "minsw-bench-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	d := &daemon{t: b, name: "bench", dir: dir, listen: freePort(b)}
	d.start()
	defer d.kill()
	if out, code := d.minsw("swarm", "init", "--advertise-addr", "127.0.0.1"); code != 0 {
		b.Fatal(out)
	}
	conn, err := grpc.NewClient("unix://"+filepath.Join(dir, "run", "minsw.sock"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ctl := api.NewControlClient(conn)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		resp, err := ctl.CreateService(ctx, &api.CreateServiceRequest{Spec: &api.ServiceSpec{Name: fmt.Sprintf("web%d", i),
			Mode: &api.ServiceSpec_Replicated{Replicated: &api.ReplicatedService{Replicas: 50}},
			Task: &api.TaskSpec{Container: &api.ContainerSpec{Image: "containous/whoami"}}}})
		if err != nil {
			b.Fatal(err)
		}
		for {
			ts, err := ctl.ListTasks(ctx, &api.ListTasksRequest{ServiceIds: []string{resp.Service.Id}})
			if err != nil {
				b.Fatal(err)
			}
			running := 0
			for _, tk := range ts.Tasks {
				if tk.Status.GetState() == api.TaskState_TASK_STATE_RUNNING {
					running++
				}
			}
			if running == 50 {
				break
			}
			if time.Since(start) > 30*time.Second {
				b.Fatalf("only %d of 50 running after 30s", running)
			}
			time.Sleep(5 * time.Millisecond)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/converge")
	}
}
