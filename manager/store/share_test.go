package store

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Tasks decoded from raft entries or a snapshot hold their service's task
// spec and endpoint, not copies of them; a task whose spec differs keeps
// its own.
func TestTasksShareTheirServiceSpec(t *testing.T) {
	ctx := context.Background()
	s := New(nil, nil)
	s.SetProposer(&loopback{s: s})
	sv := svc("s1", "web")
	// Labels: map entries come out of a decode in any order, and the
	// sharing must still see the specs as equal.
	sv.Spec.Task = &api.TaskSpec{Container: &api.ContainerSpec{Image: "busybox", Env: []string{"A=1"},
		Labels: map[string]string{"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6"}}}
	sv.Endpoint = &api.Endpoint{VirtualIps: []*api.VirtualIP{{NetworkId: "n1", Addr: "10.0.1.2/24"}}}
	task := func(id string, spec *api.TaskSpec) *api.Task {
		return &api.Task{Id: id, Meta: &api.Meta{}, ServiceId: "s1", ServiceName: "web", NodeId: "node1",
			Spec: proto.Clone(spec).(*api.TaskSpec), Endpoint: proto.Clone(sv.Endpoint).(*api.Endpoint)}
	}
	other := &api.TaskSpec{Container: &api.ContainerSpec{Image: "busybox", Env: []string{"A=2"}}}
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.Create(sv); err != nil {
			return err
		}
		if err := tx.Create(task("t1", sv.Spec.Task)); err != nil {
			return err
		}
		return tx.Create(task("t2", other))
	}); err != nil {
		t.Fatal(err)
	}
	check := func(when string, s *Store) {
		t.Helper()
		s.View(func(tx ReadTx) {
			stored, t1, t2 := tx.Service("s1"), tx.Task("t1"), tx.Task("t2")
			if t1.Spec != stored.Spec.Task || t1.Endpoint != stored.Endpoint {
				t.Errorf("%s: t1 holds its own copies of the service's spec and endpoint", when)
			}
			if t2.Spec == stored.Spec.Task || !proto.Equal(t2.Spec, other) {
				t.Errorf("%s: t2's different spec was replaced: %v", when, t2.Spec)
			}
		})
	}
	check("after create", s)

	// A status update keeps the shared spec.
	var t1 *api.Task
	s.View(func(tx ReadTx) { t1 = proto.Clone(tx.Task("t1")).(*api.Task) })
	t1.Status = &api.TaskStatus{State: api.TaskState_TASK_STATE_RUNNING}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.Update(t1) }); err != nil {
		t.Fatal(err)
	}
	check("after an update", s)

	restored := New(nil, nil)
	if err := restored.Restore(s.Save()); err != nil {
		t.Fatal(err)
	}
	b, _ := proto.Marshal(s.Save())
	var snap api.StoreSnapshot
	if err := proto.Unmarshal(b, &snap); err != nil {
		t.Fatal(err)
	}
	decoded := New(nil, nil)
	if err := decoded.Restore(&snap); err != nil {
		t.Fatal(err)
	}
	check("after a restore", decoded)
}
