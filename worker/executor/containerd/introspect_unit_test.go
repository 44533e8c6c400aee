package containerd

import (
	"testing"

	v1 "github.com/containerd/cgroups/stats/v1"
	v2 "github.com/containerd/cgroups/v2/stats"
	"google.golang.org/protobuf/types/known/anypb"
)

// The shim's metrics, cgroup v1 or v2, read into one sample.
func TestStatsFromMetrics(t *testing.T) {
	m1 := &v1.Metrics{
		CPU:    &v1.CPUStat{Usage: &v1.CPUUsage{Total: 3e9, User: 2e9, Kernel: 1e9, PerCPU: []uint64{2e9, 1e9}}, Throttling: &v1.Throttle{Periods: 5}},
		Memory: &v1.MemoryStat{TotalInactiveFile: 1 << 20, Usage: &v1.MemoryEntry{Usage: 8 << 20, Max: 9 << 20, Limit: 1 << 62}},
		Pids:   &v1.PidsStat{Current: 2},
		Blkio:  &v1.BlkIOStat{IoServiceBytesRecursive: []*v1.BlkIOEntry{{Op: "Read", Major: 8, Value: 4096}}},
	}
	b1, _ := m1.Marshal()
	s, err := statsFromMetrics(&anypb.Any{TypeUrl: "io.containerd.cgroups.v1.Metrics", Value: b1})
	if err != nil || s.CgroupV2 || s.CPUTotalNs != 3e9 || len(s.CPUPerCPUNs) != 2 || s.ThrottlingPeriods != 5 || s.MemoryUsage != 8<<20 ||
		s.MemoryMaxUsage != 9<<20 || s.MemoryStats["total_inactive_file"] != 1<<20 || s.PidsCurrent != 2 || len(s.BlkioServiceBytes) != 1 || s.BlkioServiceBytes[0].Op != "Read" {
		t.Errorf("v1: %+v %v", s, err)
	}
	m2 := &v2.Metrics{
		CPU:    &v2.CPUStat{UsageUsec: 3e6, UserUsec: 2e6, SystemUsec: 1e6},
		Memory: &v2.MemoryStat{Usage: 8 << 20, UsageLimit: 64 << 20, InactiveFile: 1 << 20},
		Pids:   &v2.PidsStat{Current: 3, Limit: 100},
		Io:     &v2.IOStat{Usage: []*v2.IOEntry{{Major: 8, Rbytes: 4096, Wbytes: 512, Rios: 1, Wios: 2}}},
	}
	b2, _ := m2.Marshal()
	s, err = statsFromMetrics(&anypb.Any{TypeUrl: "io.containerd.cgroups.v2.Metrics", Value: b2})
	if err != nil || !s.CgroupV2 || s.CPUTotalNs != 3e9 || s.CPUKernelNs != 1e9 || s.MemoryLimit != 64<<20 || s.MemoryStats["inactive_file"] != 1<<20 ||
		s.PidsLimit != 100 || len(s.BlkioServiceBytes) != 2 || s.BlkioServiceBytes[1].Op != "write" || s.BlkioServiceBytes[1].Value != 512 {
		t.Errorf("v2: %+v %v", s, err)
	}
	if _, err := statsFromMetrics(&anypb.Any{TypeUrl: "io.containerd.windows.Stats"}); err == nil {
		t.Error("an unknown kind of metrics was read")
	}
}

func TestHostFigures(t *testing.T) {
	ns, cpus := hostCPU("cpu  100 0 50 800 10 0 40 7 0 0\ncpu0 50 0 25 400 5 0 20 0 0 0\ncpu1 50 0 25 400 5 0 20 0 0 0\nintr 1\n")
	// user..softirq (7 fields, steal left out): 1000 ticks of 10 ms.
	if ns != 10e9 || cpus != 2 {
		t.Errorf("hostCPU: %d ns, %d cpus", ns, cpus)
	}
	if got := memTotal("MemTotal:        2048 kB\nMemFree: 1 kB\n"); got != 2<<20 {
		t.Errorf("memTotal: %d", got)
	}
	nets := netDev(`Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     140       2    0    0    0     0          0         0      140       2    0    0    0     0       0          0
  eth0:    1500      10    1    2    0     0          0         0      700       5    0    3    0     0       0          0
`)
	if len(nets) != 1 || nets[0].Interface != "eth0" || nets[0].RxBytes != 1500 || nets[0].RxErrors != 1 || nets[0].RxDropped != 2 || nets[0].TxBytes != 700 || nets[0].TxDropped != 3 {
		t.Errorf("netDev: %+v", nets)
	}
}
