package node

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// describe is what the node reports of itself with each session: name,
// platform, engine labels (daemon --label) and the resources tasks may
// reserve (its CPUs and memory, and daemon --node-generic-resource).
func (n *Node) describe() *api.NodeDescription {
	d := &api.NodeDescription{
		Hostname: n.cfg.Hostname, Os: runtime.GOOS, Architecture: runtime.GOARCH, EngineVersion: Version,
		EngineLabels: n.cfg.EngineLabels,
		Resources: &api.Resources{
			NanoCpus:    int64(runtime.NumCPU()) * 1e9,
			MemoryBytes: memTotal(),
		},
	}
	for k, v := range n.cfg.GenericResources {
		d.Resources.Generic = append(d.Resources.Generic, &api.GenericResource{Kind: k, Value: v})
	}
	return d
}

// memTotal is the machine's memory from /proc/meminfo, 0 if unknown.
func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			fields := strings.Fields(rest)
			if len(fields) > 0 {
				kb, err := strconv.ParseInt(fields[0], 10, 64)
				if err == nil {
					return kb << 10
				}
			}
		}
	}
	return 0
}
