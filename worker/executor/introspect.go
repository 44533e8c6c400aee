package executor

import (
	"context"
	"errors"
	"time"
)

// ErrNotRunning: the container has no running task.
var ErrNotRunning = errors.New("container is not running")

// Introspector reads what runs in this node's containers, for docker top,
// docker stats and docker system df; the containerd executor implements it.
type Introspector interface {
	// Pids lists the host PIDs of a running container's processes
	// (ErrNotRunning when it has none).
	Pids(ctx context.Context, id string) ([]int, error)
	// Stats samples a container's resource usage; a container that is not
	// running has a zero sample with Running false.
	Stats(ctx context.Context, id string) (Stats, error)
	// DiskUsage reports the node's images and its containers' writable
	// layers with their sizes.
	DiskUsage(ctx context.Context) (DiskUsage, error)
}

// Stats is one sample of a container's cgroup and network interfaces, with
// the host's CPU time to compare it to.
type Stats struct {
	Read     time.Time
	Running  bool
	CgroupV2 bool

	CPUTotalNs, CPUUserNs, CPUKernelNs                   uint64
	CPUPerCPUNs                                          []uint64
	ThrottlingPeriods, ThrottledPeriods, ThrottledTimeNs uint64
	// SystemCPUNs is the host's CPU time over all CPUs (/proc/stat).
	SystemCPUNs uint64
	OnlineCPUs  uint32

	MemoryUsage, MemoryMaxUsage, MemoryLimit, MemoryFailcnt uint64
	// MemoryStats are memory.stat's counters by their cgroup names.
	MemoryStats map[string]uint64

	PidsCurrent, PidsLimit uint64

	BlkioServiceBytes, BlkioServiced []BlkioEntry
	Networks                         []NetworkStats
}

// BlkioEntry is one device's count for one operation.
type BlkioEntry struct {
	Major, Minor uint64
	Op           string
	Value        uint64
}

// NetworkStats are one interface's counters in the container's namespace.
type NetworkStats struct {
	Interface                               string
	RxBytes, RxPackets, RxErrors, RxDropped uint64
	TxBytes, TxPackets, TxErrors, TxDropped uint64
}

// DiskUsage is what the node's images and containers take on disk.
type DiskUsage struct {
	Images     []ImageUsage
	Containers []ContainerUsage
	// LayersSize is what the images take together, each blob and
	// unpacked layer counted once.
	LayersSize int64
}

// ImageUsage is one image of the node.
type ImageUsage struct {
	ID          string // the config's digest, docker's image ID
	RepoTags    []string
	RepoDigests []string
	Created     time.Time
	Size        int64 // content and unpacked layers
	SharedSize  int64 // the part of Size other images use too
}

// ContainerUsage is one container's writable layer (-1: unknown).
type ContainerUsage struct {
	ID     string
	SizeRw int64
}
