package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/containerd/cgroups/stats/v1"
	v2 "github.com/containerd/cgroups/v2/stats"
	"github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/images"
	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/minsw/minsw/worker/executor"
)

var _ executor.Introspector = (*Executor)(nil)

// runningTask is id's task when it runs (ErrNotFound: no container;
// ErrNotRunning: no running task).
func (e *Executor) runningTask(ctx context.Context, id string) (containerd.Task, error) {
	ctr, err := e.load(ctx, id)
	if err != nil {
		return nil, err
	}
	return e.taskOf(ctx, ctr)
}

func (e *Executor) taskOf(ctx context.Context, ctr containerd.Container) (containerd.Task, error) {
	id := ctr.ID()
	task, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("%w: %s", executor.ErrNotRunning, short(id))
	}
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", short(id), err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", short(id), err)
	}
	if st.Status != containerd.Running && st.Status != containerd.Paused && st.Status != containerd.Pausing {
		return nil, fmt.Errorf("%w: %s", executor.ErrNotRunning, short(id))
	}
	return task, nil
}

// Pids lists the host PIDs of the container's processes (runc's view of
// its cgroup).
func (e *Executor) Pids(ctx context.Context, id string) ([]int, error) {
	ctx = e.ns(ctx)
	task, err := e.runningTask(ctx, id)
	if err != nil {
		return nil, err
	}
	infos, err := task.Pids(ctx)
	if err != nil {
		return nil, fmt.Errorf("container %s: listing its processes: %w", short(id), err)
	}
	pids := make([]int, 0, len(infos))
	for _, p := range infos {
		pids = append(pids, int(p.Pid))
	}
	return pids, nil
}

// Stats samples the task's cgroup through containerd's task metrics (cgroup
// v1 or v2, whichever the shim reports), the interfaces of its network
// namespace (/proc/PID/net/dev) and the host's CPU time.
func (e *Executor) Stats(ctx context.Context, id string) (executor.Stats, error) {
	ctx = e.ns(ctx)
	ctr, err := e.load(ctx, id)
	if err != nil {
		return executor.Stats{}, err
	}
	task, err := e.taskOf(ctx, ctr)
	if errors.Is(err, executor.ErrNotRunning) {
		return executor.Stats{Read: time.Now()}, nil
	}
	if err != nil {
		return executor.Stats{}, err
	}
	m, err := task.Metrics(ctx)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return executor.Stats{Read: time.Now()}, nil
		}
		return executor.Stats{}, fmt.Errorf("container %s: reading its metrics: %w", short(id), err)
	}
	s, err := statsFromMetrics(m.GetData())
	if err != nil {
		return executor.Stats{}, fmt.Errorf("container %s: %w", short(id), err)
	}
	s.Read, s.Running = time.Now(), true
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		s.SystemCPUNs, s.OnlineCPUs = hostCPU(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		// Without a limit, the cgroup's is "unlimited": docker shows the
		// host's memory instead.
		if total := memTotal(string(b)); total > 0 && (s.MemoryLimit == 0 || s.MemoryLimit > total) {
			s.MemoryLimit = total
		}
	}
	// A task on the host network has no interfaces of its own: docker
	// lists none for it.
	if labels, err := ctr.Labels(ctx); err == nil && labels[labelHostNetwork] == "" {
		if b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(int(task.Pid())), "net", "dev")); err == nil {
			s.Networks = netDev(string(b))
		}
	}
	return s, nil
}

// statsFromMetrics reads the shim's cgroup metrics (io.containerd.cgroups.v1
// or .v2 Metrics).
func statsFromMetrics(data *anypb.Any) (executor.Stats, error) {
	var s executor.Stats
	switch url := data.GetTypeUrl(); {
	case strings.HasSuffix(url, "io.containerd.cgroups.v1.Metrics"):
		var m v1.Metrics
		if err := m.Unmarshal(data.GetValue()); err != nil {
			return s, fmt.Errorf("decoding its cgroup v1 metrics: %w", err)
		}
		if c := m.CPU; c != nil {
			if u := c.Usage; u != nil {
				s.CPUTotalNs, s.CPUUserNs, s.CPUKernelNs, s.CPUPerCPUNs = u.Total, u.User, u.Kernel, u.PerCPU
			}
			if t := c.Throttling; t != nil {
				s.ThrottlingPeriods, s.ThrottledPeriods, s.ThrottledTimeNs = t.Periods, t.ThrottledPeriods, t.ThrottledTime
			}
		}
		if mem := m.Memory; mem != nil {
			if u := mem.Usage; u != nil {
				s.MemoryUsage, s.MemoryMaxUsage, s.MemoryLimit, s.MemoryFailcnt = u.Usage, u.Max, u.Limit, u.Failcnt
			}
			s.MemoryStats = map[string]uint64{
				"cache": mem.Cache, "rss": mem.RSS, "rss_huge": mem.RSSHuge, "mapped_file": mem.MappedFile,
				"dirty": mem.Dirty, "writeback": mem.Writeback, "pgfault": mem.PgFault, "pgmajfault": mem.PgMajFault,
				"active_anon": mem.ActiveAnon, "inactive_anon": mem.InactiveAnon, "active_file": mem.ActiveFile,
				"inactive_file": mem.InactiveFile, "unevictable": mem.Unevictable,
				"hierarchical_memory_limit": mem.HierarchicalMemoryLimit,
				"total_cache":               mem.TotalCache, "total_rss": mem.TotalRSS, "total_mapped_file": mem.TotalMappedFile,
				"total_active_anon": mem.TotalActiveAnon, "total_inactive_anon": mem.TotalInactiveAnon,
				"total_active_file": mem.TotalActiveFile, "total_inactive_file": mem.TotalInactiveFile,
				"total_unevictable": mem.TotalUnevictable, "total_pgfault": mem.TotalPgFault, "total_pgmajfault": mem.TotalPgMajFault,
			}
		}
		if p := m.Pids; p != nil {
			s.PidsCurrent, s.PidsLimit = p.Current, p.Limit
		}
		if b := m.Blkio; b != nil {
			s.BlkioServiceBytes, s.BlkioServiced = blkio(b.IoServiceBytesRecursive), blkio(b.IoServicedRecursive)
		}
	case strings.HasSuffix(url, "io.containerd.cgroups.v2.Metrics"):
		var m v2.Metrics
		if err := m.Unmarshal(data.GetValue()); err != nil {
			return s, fmt.Errorf("decoding its cgroup v2 metrics: %w", err)
		}
		s.CgroupV2 = true
		if c := m.CPU; c != nil {
			s.CPUTotalNs, s.CPUUserNs, s.CPUKernelNs = c.UsageUsec*1000, c.UserUsec*1000, c.SystemUsec*1000
			s.ThrottlingPeriods, s.ThrottledPeriods, s.ThrottledTimeNs = c.NrPeriods, c.NrThrottled, c.ThrottledUsec*1000
		}
		if mem := m.Memory; mem != nil {
			s.MemoryUsage, s.MemoryLimit = mem.Usage, mem.UsageLimit
			s.MemoryStats = map[string]uint64{
				"anon": mem.Anon, "file": mem.File, "kernel_stack": mem.KernelStack, "slab": mem.Slab, "sock": mem.Sock,
				"shmem": mem.Shmem, "file_mapped": mem.FileMapped, "file_dirty": mem.FileDirty, "file_writeback": mem.FileWriteback,
				"anon_thp": mem.AnonThp, "inactive_anon": mem.InactiveAnon, "active_anon": mem.ActiveAnon,
				"inactive_file": mem.InactiveFile, "active_file": mem.ActiveFile, "unevictable": mem.Unevictable,
				"pgfault": mem.Pgfault, "pgmajfault": mem.Pgmajfault,
			}
		}
		if p := m.Pids; p != nil {
			s.PidsCurrent, s.PidsLimit = p.Current, p.Limit
		}
		if io := m.Io; io != nil {
			for _, u := range io.Usage {
				s.BlkioServiceBytes = append(s.BlkioServiceBytes,
					executor.BlkioEntry{Major: u.Major, Minor: u.Minor, Op: "read", Value: u.Rbytes},
					executor.BlkioEntry{Major: u.Major, Minor: u.Minor, Op: "write", Value: u.Wbytes})
				s.BlkioServiced = append(s.BlkioServiced,
					executor.BlkioEntry{Major: u.Major, Minor: u.Minor, Op: "read", Value: u.Rios},
					executor.BlkioEntry{Major: u.Major, Minor: u.Minor, Op: "write", Value: u.Wios})
			}
		}
	default:
		return s, fmt.Errorf("its metrics are of a kind minsw does not read (%q)", url)
	}
	return s, nil
}

func blkio(es []*v1.BlkIOEntry) []executor.BlkioEntry {
	out := make([]executor.BlkioEntry, 0, len(es))
	for _, e := range es {
		out = append(out, executor.BlkioEntry{Major: e.Major, Minor: e.Minor, Op: e.Op, Value: e.Value})
	}
	return out
}

// hostCPU reads /proc/stat: the host's CPU time over all CPUs in ns (USER_HZ
// is 100) and how many CPUs it counts, as dockerd reports SystemUsage.
func hostCPU(stat string) (ns uint64, cpus uint32) {
	for _, l := range strings.Split(stat, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) > 1 && f[0] == "cpu":
			var ticks uint64
			for _, v := range f[1:min(len(f), 8)] { // user..softirq, as dockerd
				n, _ := strconv.ParseUint(v, 10, 64)
				ticks += n
			}
			ns = ticks * uint64(time.Second/100)
		case len(f) > 1 && strings.HasPrefix(f[0], "cpu"):
			cpus++
		}
	}
	return ns, cpus
}

// memTotal is /proc/meminfo's MemTotal in bytes.
func memTotal(meminfo string) uint64 {
	for _, l := range strings.Split(meminfo, "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
			kib, _ := strconv.ParseUint(f[1], 10, 64)
			return kib * 1024
		}
	}
	return 0
}

// netDev reads /proc/PID/net/dev: the counters of the namespace's
// interfaces but its loopback, as docker reports a container's networks.
func netDev(s string) []executor.NetworkStats {
	var out []executor.NetworkStats
	for _, l := range strings.Split(s, "\n") {
		name, rest, ok := strings.Cut(l, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "lo" || strings.Contains(name, "|") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 16 {
			continue
		}
		n := func(i int) uint64 { v, _ := strconv.ParseUint(f[i], 10, 64); return v }
		out = append(out, executor.NetworkStats{Interface: name,
			RxBytes: n(0), RxPackets: n(1), RxErrors: n(2), RxDropped: n(3),
			TxBytes: n(8), TxPackets: n(9), TxErrors: n(10), TxDropped: n(11)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Interface < out[j].Interface })
	return out
}

// DiskUsage lists the images of the node's namespace and its containers'
// writable layers. An image's size is its blobs and its unpacked layers
// (each snapshot of its chain); what two images hold alike is counted in
// each image's SharedSize and once in LayersSize, as docker reports them.
func (e *Executor) DiskUsage(ctx context.Context) (executor.DiskUsage, error) {
	ctx = e.ns(ctx)
	var du executor.DiskUsage
	imgs, err := e.client.ImageService().List(ctx)
	if err != nil {
		return du, fmt.Errorf("list images: %w", err)
	}
	byID := map[string]int{}
	var items []map[string]int64 // per image in du.Images
	users := map[string]int{}    // item → how many images hold it
	for _, img := range imgs {
		ci := containerd.NewImage(e.client, img)
		cfg, err := ci.Config(ctx)
		if err != nil {
			continue // not pulled for this platform, or its content is gone
		}
		id := cfg.Digest.String()
		i, ok := byID[id]
		if !ok {
			its := e.imageItems(ctx, img)
			var size int64
			for k, n := range its {
				size += n
				users[k]++
			}
			du.Images = append(du.Images, executor.ImageUsage{ID: id, Created: img.CreatedAt, Size: size})
			items = append(items, its)
			i = len(du.Images) - 1
			byID[id] = i
		}
		name, dgst := imageNames(img)
		if name != "" {
			du.Images[i].RepoTags = append(du.Images[i].RepoTags, name)
		}
		if dgst != "" {
			du.Images[i].RepoDigests = append(du.Images[i].RepoDigests, dgst)
		}
	}
	counted := map[string]bool{}
	for i, its := range items {
		for k, n := range its {
			if users[k] > 1 {
				du.Images[i].SharedSize += n
			}
			if !counted[k] {
				counted[k] = true
				du.LayersSize += n
			}
		}
	}
	ctrs, err := e.client.ContainerService().List(ctx)
	if err != nil {
		return du, fmt.Errorf("list containers: %w", err)
	}
	for _, c := range ctrs {
		cu := executor.ContainerUsage{ID: c.ID, SizeRw: -1}
		if c.SnapshotKey != "" && c.Snapshotter != "" {
			if u, err := e.client.SnapshotService(c.Snapshotter).Usage(ctx, c.SnapshotKey); err == nil {
				cu.SizeRw = u.Size
			}
		}
		du.Containers = append(du.Containers, cu)
	}
	return du, nil
}

// imageItems are what an image holds on this node, by a key two images
// holding the same thing share: its blobs (index, manifest, config,
// layers of this node's platform) and the snapshots of its unpacked chain.
func (e *Executor) imageItems(ctx context.Context, img images.Image) map[string]int64 {
	cs := e.client.ContentStore()
	children := images.ChildrenHandler(cs)
	items := map[string]int64{}
	walk := images.HandlerFunc(func(ctx context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		info, err := cs.Info(ctx, desc.Digest)
		if err != nil {
			return nil, nil // not on this node (another platform's)
		}
		items["blob "+desc.Digest.String()] = info.Size
		for k, top := range info.Labels {
			if sn, ok := strings.CutPrefix(k, "containerd.io/gc.ref.snapshot."); ok {
				e.snapshotChain(ctx, sn, top, items)
			}
		}
		next, err := children(ctx, desc)
		if err != nil {
			return nil, nil
		}
		return next, nil
	})
	_ = images.Walk(ctx, walk, img.Target)
	return items
}

// snapshotChain adds the usage of snapshot key and of its parents.
func (e *Executor) snapshotChain(ctx context.Context, snapshotter, key string, items map[string]int64) {
	sn := e.client.SnapshotService(snapshotter)
	for key != "" {
		k := "snapshot " + snapshotter + "/" + key
		if _, ok := items[k]; ok {
			return
		}
		info, err := sn.Stat(ctx, key)
		if err != nil {
			return
		}
		u, err := sn.Usage(ctx, key)
		if err != nil {
			return
		}
		items[k] = u.Size
		key = info.Parent
	}
}

// imageNames is an image record's name as docker shows it: name:tag in
// docker's short form, and name@digest of what it points to.
func imageNames(img images.Image) (tag, digest string) {
	named, err := reference.ParseNormalizedNamed(img.Name)
	if err != nil {
		return "", ""
	}
	if _, ok := named.(reference.Digested); ok {
		return "", reference.FamiliarString(named)
	}
	dn, err := reference.WithDigest(reference.TrimNamed(named), img.Target.Digest)
	if err != nil {
		return reference.FamiliarString(named), ""
	}
	return reference.FamiliarString(named), reference.FamiliarString(dn)
}
