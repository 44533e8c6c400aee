package store

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/prototest"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// TestShallowTaskCopiesEveryField sets every field of a Task and checks
// that ShallowTask's copy equals it, sharing the spec but not the meta
// (Task.Shallow's own test guards the field list).
func TestShallowTaskCopiesEveryField(t *testing.T) {
	task := &api.Task{}
	prototest.FillEveryField(t, task, "ShallowTask")
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
	fields := meta.ProtoReflect().Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		if fd := fields.Get(i); fd.IsList() || fd.IsMap() {
			t.Fatalf("Meta has a repeated field %s: teach shallowMeta (which would share it) and this test about it", fd.Name())
		}
	}
	prototest.FillEveryField(t, meta, "shallowMeta")
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
