package store

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// scaleServices builds services and tasks shaped as the orchestrator,
// allocator and dispatcher leave them (spec copy, endpoint copy, running
// status, one network attachment).
func scaleCommands(services, replicas int) []*api.RaftCommand {
	now := timestamppb.New(time.Unix(1_800_000_000, 0))
	var cmds []*api.RaftCommand
	for n := 0; n < services; n++ {
		sid := fmt.Sprintf("s%024d", n)
		spec := &api.ServiceSpec{Name: fmt.Sprintf("svc%05d", n), Labels: map[string]string{"chaos": "v"},
			Mode: &api.ServiceSpec_Replicated{Replicated: &api.ReplicatedService{Replicas: uint64(replicas)}},
			Task: &api.TaskSpec{Container: &api.ContainerSpec{Image: "containous/whoami:latest", Env: []string{"A=1"}},
				Networks: []*api.NetworkAttachmentConfig{{Target: "net1"}}}}
		ep := &api.Endpoint{VirtualIps: []*api.VirtualIP{{NetworkId: "net1", Addr: fmt.Sprintf("10.%d.%d.2/24", n/250, n%250), Fwmark: uint32(0x100 + n)}}}
		cmd := &api.RaftCommand{Actions: []*api.StoreAction{{Kind: api.StoreActionKind_STORE_ACTION_CREATE,
			Target: &api.StoreAction_Service{Service: &api.Service{Id: sid, Meta: &api.Meta{}, Spec: spec, SpecVersion: 1, Endpoint: ep}}}}}
		for slot := 1; slot <= replicas; slot++ {
			t := &api.Task{Id: fmt.Sprintf("t%019d%05d", n, slot), Meta: &api.Meta{CreatedAt: now, UpdatedAt: now},
				Spec: proto.Clone(spec.Task).(*api.TaskSpec), ServiceId: sid, Slot: uint64(slot), NodeId: fmt.Sprintf("node%024d", slot%4),
				ServiceName: spec.Name, SpecVersion: 1, DesiredState: api.TaskState_TASK_STATE_RUNNING, Endpoint: ep,
				Status:   &api.TaskStatus{State: api.TaskState_TASK_STATE_RUNNING, Message: "started", Timestamp: now},
				Networks: []*api.NetworkAttachment{{NetworkId: "net1", Addresses: []string{"10.0.1.3/24"}, MacAddress: "02:42:0a:00:01:03"}}}
			cmd.Actions = append(cmd.Actions, &api.StoreAction{Kind: api.StoreActionKind_STORE_ACTION_CREATE, Target: &api.StoreAction_Task{Task: t}})
		}
		cmds = append(cmds, cmd)
	}
	return cmds
}

func heapMiB() float64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}

// BenchmarkStoreMemory10kServices100kTasks measures the heap a manager's
// store holds for 10,000 services of 10 tasks, filled as a follower's FSM
// fills it (every command decoded from its raft entry), and again after a
// restore from a snapshot of it, as a restarted manager holds it.
//
//	go test -run '^$' -bench StoreMemory -benchtime 1x ./manager/store/
func BenchmarkStoreMemory10kServices100kTasks(b *testing.B) {
	const services, replicas = 10_000, 10
	for i := 0; i < b.N; i++ {
		cmds := scaleCommands(services, replicas)
		var entries [][]byte
		for _, c := range cmds {
			e, err := proto.Marshal(c)
			if err != nil {
				b.Fatal(err)
			}
			entries = append(entries, e)
		}
		cmds = nil
		base := heapMiB()
		st := New(nil, nil)
		for j, e := range entries {
			var cmd api.RaftCommand
			if err := proto.Unmarshal(e, &cmd); err != nil {
				b.Fatal(err)
			}
			if err := st.Apply(uint64(j+1), &cmd); err != nil {
				b.Fatal(err)
			}
		}
		applied := heapMiB() - base
		snap, err := proto.Marshal(st.Save())
		if err != nil {
			b.Fatal(err)
		}
		st = nil
		entries = nil
		base = heapMiB()
		began := time.Now()
		restored := New(nil, nil)
		var s api.StoreSnapshot
		if err := proto.Unmarshal(snap, &s); err != nil {
			b.Fatal(err)
		}
		decoded := time.Since(began)
		if err := restored.Restore(&s); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(decoded.Seconds(), "decode-s")
		b.ReportMetric(time.Since(began).Seconds()-decoded.Seconds(), "restore-s")
		size := len(snap)
		snap = nil
		s = api.StoreSnapshot{}
		after := heapMiB() - base
		var n int
		restored.View(func(tx ReadTx) { n = len(tx.Tasks()) })
		if n != services*replicas {
			b.Fatalf("%d tasks restored, want %d", n, services*replicas)
		}
		b.ReportMetric(applied, "applied-heap-MiB")
		b.ReportMetric(after, "restored-heap-MiB")
		b.ReportMetric(float64(size)/(1<<20), "snapshot-MiB")
		runtime.KeepAlive(restored)
	}
}
