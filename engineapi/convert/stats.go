package convert

import (
	"github.com/docker/docker/api/types/container"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// ContainerStats is docker's stats body for sample cur, with pre (nil: no
// earlier sample) as its precpu_stats. A container that is not running
// has every figure zero, as dockerd reports it.
func ContainerStats(cur, pre *api.ContainerStats) container.StatsResponse {
	out := container.StatsResponse{Name: "/" + cur.GetName(), ID: cur.GetId(), Read: ts(cur.GetRead())}
	if pre != nil {
		out.PreRead = ts(pre.GetRead())
		out.PreCPUStats = cpuStats(pre)
	}
	if !cur.GetRunning() {
		return out
	}
	out.CPUStats = cpuStats(cur)
	out.PidsStats = container.PidsStats{Current: cur.GetPidsCurrent(), Limit: cur.GetPidsLimit()}
	out.MemoryStats = container.MemoryStats{
		Usage: cur.GetMemoryUsage(), MaxUsage: cur.GetMemoryMaxUsage(), Limit: cur.GetMemoryLimit(),
		Failcnt: cur.GetMemoryFailcnt(), Stats: cur.GetMemoryStats(),
	}
	blk := func(es []*api.BlkioEntry) []container.BlkioStatEntry {
		out := []container.BlkioStatEntry{}
		for _, e := range es {
			out = append(out, container.BlkioStatEntry{Major: e.GetMajor(), Minor: e.GetMinor(), Op: e.GetOp(), Value: e.GetValue()})
		}
		return out
	}
	out.BlkioStats = container.BlkioStats{IoServiceBytesRecursive: blk(cur.GetBlkioServiceBytes())}
	if !cur.GetCgroupV2() {
		out.BlkioStats.IoServicedRecursive = blk(cur.GetBlkioServiced())
	}
	out.Networks = map[string]container.NetworkStats{}
	for _, n := range cur.GetNetworks() {
		out.Networks[n.GetInterface()] = container.NetworkStats{
			RxBytes: n.GetRxBytes(), RxPackets: n.GetRxPackets(), RxErrors: n.GetRxErrors(), RxDropped: n.GetRxDropped(),
			TxBytes: n.GetTxBytes(), TxPackets: n.GetTxPackets(), TxErrors: n.GetTxErrors(), TxDropped: n.GetTxDropped(),
		}
	}
	return out
}

func cpuStats(s *api.ContainerStats) container.CPUStats {
	if !s.GetRunning() {
		return container.CPUStats{}
	}
	return container.CPUStats{
		CPUUsage: container.CPUUsage{
			TotalUsage: s.GetCpuTotalNs(), PercpuUsage: s.GetCpuPercpuNs(),
			UsageInKernelmode: s.GetCpuKernelNs(), UsageInUsermode: s.GetCpuUserNs(),
		},
		SystemUsage: s.GetSystemCpuNs(),
		OnlineCPUs:  s.GetOnlineCpus(),
		ThrottlingData: container.ThrottlingData{
			Periods: s.GetThrottlingPeriods(), ThrottledPeriods: s.GetThrottledPeriods(), ThrottledTime: s.GetThrottledTimeNs(),
		},
	}
}
