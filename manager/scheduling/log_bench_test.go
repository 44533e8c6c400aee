package scheduling

import (
	"context"
	"runtime"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// logProposer does in-process what the raft path does to a batch on the
// leader, without the disk and the network: it encodes the command as
// Propose does, decodes it as the FSM does, and applies it at the next index.
type logProposer struct {
	st    *store.Store
	idx   uint64
	bytes int
}

func (p *logProposer) Propose(_ context.Context, cmd *api.RaftCommand) error {
	b, err := proto.Marshal(cmd)
	if err != nil {
		return err
	}
	p.bytes += len(b)
	var dec api.RaftCommand
	if err := proto.Unmarshal(b, &dec); err != nil {
		return err
	}
	p.idx++
	return p.st.Apply(p.idx, &dec)
}

// BenchmarkSchedule100kTasks1kNodesReservationsSpreadThroughLog is the
// issue's figure on the leader's real write path: each batch is applied
// tentatively while it is recorded, encoded into a raft entry, decoded and
// applied by the FSM. Raft's disk write and replication are not included.
//
//	go test -run '^$' -bench ThroughLog -benchtime 1x -count 5 ./manager/scheduling/
func BenchmarkSchedule100kTasks1kNodesReservationsSpreadThroughLog(b *testing.B) {
	const nodes, tasks = 1000, 100_000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		st := seedReserved(b, nodes, tasks)
		p := &logProposer{st: st, idx: 1 << 20}
		st.SetProposer(p)
		runtime.GC()
		l := New(st, nil)
		b.StartTimer()
		cpu0 := cpuTime()
		start := time.Now()
		n, err := l.Once(context.Background())
		el := time.Since(start)
		cpu := cpuTime() - cpu0
		b.StopTimer()
		if err != nil || n != tasks {
			b.Fatalf("assigned %d of %d: %v", n, tasks, err)
		}
		b.ReportMetric(el.Seconds(), "s/schedule")
		b.ReportMetric(float64(p.bytes)/(1<<20), "log-MiB")
		b.ReportMetric(cpu.Seconds(), "cpu-s")
	}
}
