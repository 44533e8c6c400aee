package convert

import (
	"testing"
	"time"

	"github.com/docker/docker/api/types"
	"google.golang.org/protobuf/types/known/timestamppb"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

func TestContainerStats(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 18, 0, 0, 0, time.UTC)
	pre := &api.ContainerStats{Id: "c1", Name: "web.1.x", Running: true, Read: timestamppb.New(t0), CpuTotalNs: 1e9, SystemCpuNs: 100e9, OnlineCpus: 2}
	cur := &api.ContainerStats{Id: "c1", Name: "web.1.x", Running: true, Read: timestamppb.New(t0.Add(time.Second)),
		CpuTotalNs: 1.5e9, CpuUserNs: 1e9, CpuKernelNs: 0.5e9, CpuPercpuNs: []uint64{1e9, 0.5e9}, SystemCpuNs: 102e9, OnlineCpus: 2,
		MemoryUsage: 4 << 20, MemoryLimit: 1 << 30, MemoryStats: map[string]uint64{"total_inactive_file": 1 << 20},
		PidsCurrent: 2, BlkioServiceBytes: []*api.BlkioEntry{{Major: 8, Op: "Read", Value: 4096}}, BlkioServiced: []*api.BlkioEntry{{Major: 8, Op: "Read", Value: 1}},
		Networks: []*api.NetworkStats{{Interface: "eth0", RxBytes: 100, TxBytes: 50}}}
	s := ContainerStats(cur, pre)
	if s.Name != "/web.1.x" || s.ID != "c1" || !s.Read.Equal(t0.Add(time.Second)) || !s.PreRead.Equal(t0) {
		t.Errorf("names and times: %+v", s)
	}
	if s.CPUStats.CPUUsage.TotalUsage != 1.5e9 || s.PreCPUStats.CPUUsage.TotalUsage != 1e9 || s.CPUStats.SystemUsage != 102e9 || s.PreCPUStats.SystemUsage != 100e9 || s.CPUStats.OnlineCPUs != 2 || len(s.CPUStats.CPUUsage.PercpuUsage) != 2 {
		t.Errorf("cpu: %+v / pre %+v", s.CPUStats, s.PreCPUStats)
	}
	if s.MemoryStats.Usage != 4<<20 || s.MemoryStats.Limit != 1<<30 || s.MemoryStats.Stats["total_inactive_file"] != 1<<20 || s.PidsStats.Current != 2 {
		t.Errorf("memory, pids: %+v %+v", s.MemoryStats, s.PidsStats)
	}
	if len(s.BlkioStats.IoServiceBytesRecursive) != 1 || s.BlkioStats.IoServiceBytesRecursive[0].Value != 4096 || len(s.BlkioStats.IoServicedRecursive) != 1 {
		t.Errorf("blkio: %+v", s.BlkioStats)
	}
	if n := s.Networks["eth0"]; n.RxBytes != 100 || n.TxBytes != 50 || len(s.Networks) != 1 {
		t.Errorf("networks: %+v", s.Networks)
	}
	// A one-shot sample has no precpu; a stopped container is all zeros.
	if s := ContainerStats(cur, nil); !s.PreRead.IsZero() || s.PreCPUStats.SystemUsage != 0 {
		t.Errorf("one-shot: %+v", s.PreCPUStats)
	}
	stopped := ContainerStats(&api.ContainerStats{Id: "c2", Name: "web.2.y", Read: timestamppb.New(t0)}, nil)
	if stopped.Name != "/web.2.y" || stopped.MemoryStats.Usage != 0 || stopped.Networks != nil || stopped.CPUStats.SystemUsage != 0 {
		t.Errorf("stopped: %+v", stopped)
	}
}

func TestDiskUsage(t *testing.T) {
	du := &api.DiskUsageResponse{
		LayersSize: 17 << 20,
		Images: []*api.ImageUsage{
			{Id: "sha256:aaa", RepoTags: []string{"busybox:latest"}, RepoDigests: []string{"busybox@sha256:" + hex64("1")}, Size: 4 << 20},
			{Id: "sha256:bbb", RepoTags: []string{"reg.example:5000/web:v2"}, RepoDigests: []string{"reg.example:5000/web@sha256:" + hex64("2")}, Size: 10 << 20},
			{Id: "sha256:ccc", RepoTags: []string{"alpine:3"}, Size: 5 << 20, SharedSize: 2 << 20},
		},
		Containers: []*api.ContainerUsage{{Id: "c1", SizeRw: 8192}, {Id: "c2", SizeRw: -1}},
		Volumes:    []*api.VolumeUsage{{Name: "data", Size: 12345}},
	}
	ctrs := []*api.Container{
		{Id: "c1", Name: "a.1.x", Image: "busybox", State: "running"},
		{Id: "c2", Name: "b.1.y", Image: "reg.example:5000/web:v1@sha256:" + hex64("2"), State: "exited"},
	}
	vols := []*api.Volume{{Name: "data", Driver: "local", Users: []string{"a.1.x"}}, {Name: "spare", Driver: "local"}}
	out := DiskUsage(du, ctrs, vols, time.Now(), nil, nil)
	if len(out.Images) != 3 || out.Images[0].Containers != 1 || out.Images[1].Containers != 1 || out.Images[2].Containers != 0 || out.Images[2].SharedSize != 2<<20 || out.LayersSize != 17<<20 {
		t.Errorf("images: %+v (layers %d)", out.Images, out.LayersSize)
	}
	if len(out.Containers) != 2 || out.Containers[0].SizeRw != 8192 || out.Containers[1].SizeRw != 0 {
		t.Errorf("containers: %+v", out.Containers)
	}
	if len(out.Volumes) != 2 || out.Volumes[0].UsageData.Size != 12345 || out.Volumes[0].UsageData.RefCount != 1 || out.Volumes[1].UsageData.Size != -1 || out.Volumes[1].UsageData.RefCount != 0 {
		t.Errorf("volumes: %+v %+v", out.Volumes[0].UsageData, out.Volumes[1].UsageData)
	}
	if out.BuildCache == nil || len(out.BuildCache) != 0 {
		t.Errorf("build cache: %v", out.BuildCache)
	}
	only := DiskUsage(du, ctrs, vols, time.Now(), nil, map[types.DiskUsageObject]bool{types.VolumeObject: true})
	if only.Images != nil || only.Containers != nil || len(only.Volumes) != 2 || only.BuildCache != nil {
		t.Errorf("type=volume: %+v", only)
	}
}

func hex64(c string) string {
	s := ""
	for len(s) < 64 {
		s += c
	}
	return s
}
