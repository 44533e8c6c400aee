package minswv1_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/prototest"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// TestShallowCopiesEveryField sets every field of a Task and checks that
// Shallow's copy equals it and shares its parts.
func TestShallowCopiesEveryField(t *testing.T) {
	task := &api.Task{}
	prototest.FillEveryField(t, task, "Task.Shallow")
	got := task.Shallow()
	if !proto.Equal(got, task) {
		t.Fatalf("Shallow dropped a field:\n got %v\nwant %v", got, task)
	}
	if got == task || got.Spec != task.Spec || got.Meta != task.Meta || got.Status != task.Status {
		t.Error("Shallow copies a part instead of sharing it, or is not a new Task")
	}
}
