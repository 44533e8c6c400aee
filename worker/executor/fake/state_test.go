package fake

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/minsw/minsw/worker/executor"
)

func TestStateSavedAndLoadedKeepsContainersAsTheyWere(t *testing.T) {
	ctx := context.Background()
	e := New()
	if err := e.Pull(ctx, "busybox"); err != nil {
		t.Fatal(err)
	}
	id := func(c string) string { return strings.Repeat(c, 64) }
	for _, c := range []string{"a", "b"} {
		if err := e.Create(ctx, executor.Spec{ID: id(c), Name: "web.1." + c, Image: "busybox", Labels: map[string]string{"minsw.task.id": c}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Start(ctx, id("a")); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := e.SaveState(&buf); err != nil {
		t.Fatal(err)
	}

	again := New()
	if err := again.LoadState(&buf); err != nil {
		t.Fatal(err)
	}
	for c, want := range map[string]executor.State{"a": executor.StateRunning, "b": executor.StateCreated} {
		st, err := again.Inspect(ctx, id(c))
		if err != nil {
			t.Fatal(err)
		}
		if st.State != want || st.Labels["minsw.task.id"] != c {
			t.Errorf("container %s: %v %v, want %v with its labels", c, st.State, st.Labels, want)
		}
	}
	// The loaded executor goes on as before: the image is there, a
	// running container stops.
	if err := again.Create(ctx, executor.Spec{ID: id("c"), Image: "busybox"}); err != nil {
		t.Fatalf("the saved image is gone: %v", err)
	}
	if err := again.Stop(ctx, id("a"), 0); err != nil {
		t.Fatal(err)
	}
	if st, _ := again.Inspect(ctx, id("a")); st.State != executor.StateExited {
		t.Fatalf("a stopped container is %v", st.State)
	}
}
