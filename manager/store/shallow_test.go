package store

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// TestShallowTaskCopiesEveryField sets every field of a Task and checks
// that ShallowTask's copy equals it, sharing the spec but not the meta.
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
			t.Fatalf("Task has a map field %s: teach ShallowTask and this test about it", fd.Name())
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
	got := ShallowTask(task)
	if !proto.Equal(got, task) {
		t.Fatalf("ShallowTask dropped a field:\n got %v\nwant %v", got, task)
	}
	if got.Spec != task.Spec {
		t.Error("the spec is copied, not shared")
	}
	if got.Meta == task.Meta {
		t.Error("the meta is shared: the store's stamp would change the stored task")
	}
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
