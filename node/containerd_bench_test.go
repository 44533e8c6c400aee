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

	"github.com/minsw/minsw/internal/procstat"
	"github.com/minsw/minsw/internal/testenv"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// BenchmarkContainerdTasks measures, through a daemon with the containerd
// executor (image already present): one task from create to running, 20
// tasks to all running, and the daemon's RSS holding 50 running tasks.
func BenchmarkContainerdTasks(b *testing.B) {
	ctrd := testenv.NewContainerd(b)
	reg := testenv.NewRegistry(b)
	testenv.PushBusybox(b, reg, "library/busybox:latest")
	dir := filepath.Join(b.TempDir(), "n")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	d := &daemon{t: b, name: "bench-node", dir: dir, listen: freePort(b),
		extra: []string{"--executor", "containerd", "--containerd", ctrd.Address, "--registry-mirror", reg.URL}}
	d.start()
	defer d.kill()
	d.ok("swarm", "init", "--advertise-addr", "127.0.0.1")
	d.ok("service", "create", "--name", "warm", "busybox", "sleep", "3600") // pulls the image once
	conn, err := grpc.NewClient("unix://"+d.sock(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ctl := api.NewControlClient(conn)
	ctx := context.Background()
	converge := func(name string, n uint64) time.Duration {
		start := time.Now()
		resp, err := ctl.CreateService(ctx, &api.CreateServiceRequest{Spec: &api.ServiceSpec{Name: name,
			Mode: &api.ServiceSpec_Replicated{Replicated: &api.ReplicatedService{Replicas: n}},
			Task: &api.TaskSpec{Container: &api.ContainerSpec{Image: "busybox", Args: []string{"sleep", "3600"}}}}})
		if err != nil {
			b.Fatal(err)
		}
		for {
			ts, err := ctl.ListTasks(ctx, &api.ListTasksRequest{ServiceIds: []string{resp.Service.Id}})
			if err != nil {
				b.Fatal(err)
			}
			running := uint64(0)
			for _, tk := range ts.Tasks {
				if tk.Status.GetState() == api.TaskState_TASK_STATE_RUNNING {
					running++
				}
			}
			if running == n {
				return time.Since(start)
			}
			if time.Since(start) > 60*time.Second {
				b.Fatalf("%s: %d of %d running after 60s", name, running, n)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	b.ResetTimer()
	var one, twenty time.Duration
	for i := 0; i < b.N; i++ {
		one += converge(fmt.Sprintf("one%d", i), 1)
		twenty += converge(fmt.Sprintf("twenty%d", i), 20)
		b.StopTimer()
		d.ok("service", "rm", fmt.Sprintf("one%d", i), fmt.Sprintf("twenty%d", i))
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(one.Seconds()*1000/float64(b.N), "ms/one-task")
	b.ReportMetric(twenty.Seconds()*1000/float64(b.N), "ms/twenty-tasks")
	converge("fifty", 49) // with "warm": 50 running tasks on the node
	time.Sleep(2 * time.Second)
	b.ReportMetric(float64(rssOf(d.cmd.Process.Pid))/1024, "daemonRSS-MiB@50")
}

func rssOf(pid int) int64 {
	kib, _ := procstat.RSSKiB(pid)
	return kib
}
