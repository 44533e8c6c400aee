package node

import (
	"context"
	"io/fs"
	"path/filepath"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/internal/pstable"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/executor"
)

// What the node reads of its task containers for docker top, docker stats
// and docker system df, through the executor's Introspector.

func (c *containersAPI) introspector() (executor.Introspector, error) {
	ex := c.n.cfg.Executor
	if ee, ok := ex.(*eventingExecutor); ok {
		ex = ee.Executor // the node's event recorder around the runtime
	}
	in, ok := ex.(executor.Introspector)
	if !ok {
		return nil, errdefs.Unimplemented("this node's executor cannot look into its containers (minsw daemon runs them with containerd for that)")
	}
	return in, nil
}

func (c *containersAPI) Top(ctx context.Context, r *api.TopRequest) (*api.TopResponse, error) {
	s, err := c.resolve(ctx, r.GetRef())
	if err != nil {
		return nil, err
	}
	format, err := pstable.ParseArgs(r.GetPsArgs())
	if err != nil {
		return nil, err
	}
	in, err := c.introspector()
	if err != nil {
		return nil, err
	}
	pids, err := in.Pids(ctx, s.ID)
	if err != nil {
		return nil, containerErr(err, s.ID)
	}
	rows, err := pstable.Host().Table(pids, format)
	if err != nil {
		return nil, err
	}
	out := &api.TopResponse{Titles: pstable.Titles(format)}
	for _, row := range rows {
		out.Processes = append(out.Processes, &api.TopRow{Columns: row})
	}
	return out, nil
}

func (c *containersAPI) Stats(ctx context.Context, r *api.StatsRequest) (*api.StatsResponse, error) {
	s, err := c.resolve(ctx, r.GetRef())
	if err != nil {
		return nil, err
	}
	in, err := c.introspector()
	if err != nil {
		return nil, err
	}
	st, err := in.Stats(ctx, s.ID)
	if err != nil {
		return nil, containerErr(err, s.ID)
	}
	return &api.StatsResponse{Stats: statsProto(s, st)}, nil
}

func statsProto(s executor.Status, st executor.Stats) *api.ContainerStats {
	out := &api.ContainerStats{
		Id: s.ID, Name: s.Name, Running: st.Running, CgroupV2: st.CgroupV2,
		CpuTotalNs: st.CPUTotalNs, CpuUserNs: st.CPUUserNs, CpuKernelNs: st.CPUKernelNs, CpuPercpuNs: st.CPUPerCPUNs,
		ThrottlingPeriods: st.ThrottlingPeriods, ThrottledPeriods: st.ThrottledPeriods, ThrottledTimeNs: st.ThrottledTimeNs,
		SystemCpuNs: st.SystemCPUNs, OnlineCpus: st.OnlineCPUs,
		MemoryUsage: st.MemoryUsage, MemoryMaxUsage: st.MemoryMaxUsage, MemoryLimit: st.MemoryLimit, MemoryFailcnt: st.MemoryFailcnt,
		MemoryStats: st.MemoryStats, PidsCurrent: st.PidsCurrent, PidsLimit: st.PidsLimit,
	}
	if !st.Read.IsZero() {
		out.Read = timestamppb.New(st.Read)
	}
	blk := func(es []executor.BlkioEntry) []*api.BlkioEntry {
		var out []*api.BlkioEntry
		for _, e := range es {
			out = append(out, &api.BlkioEntry{Major: e.Major, Minor: e.Minor, Op: e.Op, Value: e.Value})
		}
		return out
	}
	out.BlkioServiceBytes, out.BlkioServiced = blk(st.BlkioServiceBytes), blk(st.BlkioServiced)
	for _, n := range st.Networks {
		out.Networks = append(out.Networks, &api.NetworkStats{Interface: n.Interface,
			RxBytes: n.RxBytes, RxPackets: n.RxPackets, RxErrors: n.RxErrors, RxDropped: n.RxDropped,
			TxBytes: n.TxBytes, TxPackets: n.TxPackets, TxErrors: n.TxErrors, TxDropped: n.TxDropped})
	}
	return out
}

func (c *containersAPI) DiskUsage(ctx context.Context, _ *api.DiskUsageRequest) (*api.DiskUsageResponse, error) {
	in, err := c.introspector()
	if err != nil {
		return nil, err
	}
	du, err := in.DiskUsage(ctx)
	if err != nil {
		return nil, err
	}
	out := &api.DiskUsageResponse{LayersSize: du.LayersSize}
	for _, img := range du.Images {
		iu := &api.ImageUsage{Id: img.ID, RepoTags: img.RepoTags, RepoDigests: img.RepoDigests, Size: img.Size, SharedSize: img.SharedSize}
		if !img.Created.IsZero() {
			iu.Created = timestamppb.New(img.Created)
		}
		out.Images = append(out.Images, iu)
	}
	for _, cu := range du.Containers {
		out.Containers = append(out.Containers, &api.ContainerUsage{Id: cu.ID, SizeRw: cu.SizeRw})
	}
	if c.n.volumes != nil {
		vs, err := c.n.volumes.List()
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			out.Volumes = append(out.Volumes, &api.VolumeUsage{Name: v.Name, Size: dirSize(ctx, v.Mountpoint)})
		}
	}
	return out, nil
}

// dirSize is the bytes of the files under dir (each hard link once), -1
// when it cannot be read.
func dirSize(ctx context.Context, dir string) int64 {
	if dir == "" {
		return -1
	}
	var size int64
	seen := map[uint64]bool{}
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		if ino, ok := inode(fi); ok {
			if seen[ino] {
				return nil
			}
			seen[ino] = true
		}
		size += fi.Size()
		return nil
	})
	if err != nil {
		return -1
	}
	return size
}
