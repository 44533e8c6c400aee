package scheduling

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// TestShallowTaskCopiesEveryField sets every field of a Task and checks
// that shallowTask's copy equals it, sharing the spec but not the meta.
func TestShallowTaskCopiesEveryField(t *testing.T) {
	task := &api.Task{}
	m := task.ProtoReflect()
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		switch {
		case fd.IsList():
			l := m.Mutable(fd).List()
			if fd.Kind() == protoreflect.MessageKind {
				l.Append(protoreflect.ValueOfMessage(l.NewElement().Message()))
			} else {
				l.Append(protoreflect.ValueOfString("x"))
			}
		case fd.IsMap():
			t.Fatalf("Task has a map field %s: teach shallowTask and this test about it", fd.Name())
		case fd.Kind() == protoreflect.MessageKind:
			m.Mutable(fd)
		case fd.Kind() == protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString("x"))
		case fd.Kind() == protoreflect.Uint64Kind:
			m.Set(fd, protoreflect.ValueOfUint64(7))
		case fd.Kind() == protoreflect.EnumKind:
			m.Set(fd, protoreflect.ValueOfEnum(1))
		default:
			t.Fatalf("field %s of kind %v: teach this test to set it", fd.Name(), fd.Kind())
		}
	}
	got := shallowTask(task)
	if !proto.Equal(got, task) {
		t.Fatalf("shallowTask dropped a field:\n got %v\nwant %v", got, task)
	}
	if got.Spec != task.Spec {
		t.Error("the spec is copied, not shared")
	}
	if got.Meta == task.Meta {
		t.Error("the meta is shared: the store's stamp would change the stored task")
	}
}

// A scheduling pass leaves the tasks it read as they were: readers of an
// older snapshot still see them pending, unversioned by the pass.
func TestSchedulingLeavesStoredTasksUntouched(t *testing.T) {
	st := seedReserved(t, 4, 40)
	var before []*api.Task
	st.View(func(tx store.ReadTx) { before = tx.Tasks() })
	versions := map[string]uint64{}
	for _, tk := range before {
		versions[tk.Id] = tk.GetMeta().GetVersion()
	}
	if n, err := New(st, nil).Once(context.Background()); err != nil || n != 40 {
		t.Fatalf("assigned %d, err %v", n, err)
	}
	for _, tk := range before {
		if tk.NodeId != "" || tk.GetStatus().GetState() != api.TaskState_TASK_STATE_PENDING || tk.GetMeta().GetVersion() != versions[tk.Id] {
			t.Fatalf("task %s read before the pass changed: node %q state %v version %d", tk.Id, tk.NodeId, tk.GetStatus().GetState(), tk.GetMeta().GetVersion())
		}
	}
	st.View(func(tx store.ReadTx) {
		for _, tk := range tx.Tasks() {
			if tk.NodeId == "" || tk.GetStatus().GetState() != api.TaskState_TASK_STATE_ASSIGNED {
				t.Fatalf("task %s after the pass: node %q state %v", tk.Id, tk.NodeId, tk.GetStatus().GetState())
			}
		}
	})
}

// TestShallowMetaCopiesEveryField sets every field of a Meta and checks
// that shallowMeta's copy equals it and is a message of its own.
func TestShallowMetaCopiesEveryField(t *testing.T) {
	meta := &api.Meta{}
	m := meta.ProtoReflect()
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		switch {
		case fd.IsList() || fd.IsMap():
			t.Fatalf("Meta has a repeated field %s: teach shallowMeta and this test about it", fd.Name())
		case fd.Kind() == protoreflect.MessageKind:
			m.Mutable(fd)
		case fd.Kind() == protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString("x"))
		case fd.Kind() == protoreflect.Uint64Kind:
			m.Set(fd, protoreflect.ValueOfUint64(7))
		default:
			t.Fatalf("field %s of kind %v: teach this test to set it", fd.Name(), fd.Kind())
		}
	}
	got := shallowMeta(meta)
	if !proto.Equal(got, meta) {
		t.Fatalf("shallowMeta dropped a field:\n got %v\nwant %v", got, meta)
	}
	if got == meta {
		t.Error("the meta is shared: the store's stamp would change the stored task")
	}
	if shallowMeta(nil) != nil {
		t.Error("a task without a meta gains one")
	}
}
