package orchestrator

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// stopFirstInFlight puts web (1 replica, now at spec version 2) in the
// middle of a stop-first update: its v1 task "old" on n2 was told to stop
// and still runs; the v2 task "held" waits for it at ready, on n1 in state.
func stopFirstInFlight(h *harness, state api.TaskState) {
	h.update(func(tx *store.Tx) error {
		spec := &api.ServiceSpec{Name: "web", Task: &api.TaskSpec{Container: &api.ContainerSpec{Image: "whoami:2"},
			Restart: &api.RestartPolicy{Delay: durationpb.New(5 * time.Second)}},
			Mode: &api.ServiceSpec_Replicated{Replicated: &api.ReplicatedService{Replicas: 1}}}
		svc := &api.Service{Id: "web", Meta: &api.Meta{}, Spec: spec, SpecVersion: 2}
		if err := tx.Create(svc); err != nil {
			return err
		}
		old := NewTask(svc, "old", 1, "n2", h.clock.Now())
		old.SpecVersion = 1
		old.DesiredState = api.TaskState_TASK_STATE_SHUTDOWN
		old.Status.State = api.TaskState_TASK_STATE_RUNNING
		if err := tx.Create(old); err != nil {
			return err
		}
		held := NewTask(svc, "held", 1, "n1", h.clock.Now().Add(time.Millisecond))
		held.DesiredState = api.TaskState_TASK_STATE_READY
		held.StartAfterStop = []string{"old"}
		held.Status.State = state
		return tx.Create(held)
	})
}

// successor is the live task of web other than held, as
// "desired after [ids]".
func successor(h *harness) string {
	for _, t := range h.tasks("web") {
		if t.Id != "held" && t.Id != "old" && isLive(t) {
			return fmt.Sprintf("%s after %v", t.DesiredState.String()[11:], t.StartAfterStop)
		}
	}
	return "none"
}

func TestHeldTaskReplacedOnADownNodeStaysHeld(t *testing.T) {
	h := newHarness(t, "n1", "n2")
	stopFirstInFlight(h, api.TaskState_TASK_STATE_PREPARING)
	h.setNode("n1", func(n *api.Node) { n.Status.State = api.NodeState_NODE_STATE_DOWN })
	h.reconcile()
	// The replacement waits for the old task, still stopping on n2.
	if got := successor(h); got != "READY after [old]" {
		t.Fatalf("replacement of a held task: %s, want READY after [old]", got)
	}
	h.clock.Advance(time.Minute) // no restart delay raises it either
	if got := successor(h); got != "READY after [old]" {
		t.Fatalf("replacement a minute on: %s, want READY after [old]", got)
	}
}

func TestHeldTaskRejectedRestartsHeld(t *testing.T) {
	for _, c := range []struct {
		name    string
		oldStop bool // the old task has stopped within the restart delay
		want    string
	}{
		{"old task still stopping", false, "READY after [old]"},
		{"old task stopped", true, "RUNNING after [old]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, "n1", "n2")
			stopFirstInFlight(h, api.TaskState_TASK_STATE_PREPARING)
			h.update(func(tx *store.Tx) error {
				nt := proto.Clone(tx.Task("held")).(*api.Task)
				nt.Status.State = api.TaskState_TASK_STATE_REJECTED
				return tx.Update(nt)
			})
			h.reconcile()
			if got := successor(h); got != "READY after [old]" {
				t.Fatalf("restart of a held task: %s, want READY after [old]", got)
			}
			if c.oldStop {
				h.report("old", api.TaskState_TASK_STATE_SHUTDOWN, "")
			}
			h.clock.Advance(5 * time.Second) // the restart delay ends
			if got := successor(h); got != c.want {
				t.Fatalf("after the restart delay: %s, want %s", got, c.want)
			}
		})
	}
}

func TestHoldOver(t *testing.T) {
	h := newHarness(t, "up", "down")
	h.setNode("down", func(n *api.Node) { n.Status.State = api.NodeState_NODE_STATE_DOWN })
	mk := func(id, node string, s api.TaskState) {
		h.update(func(tx *store.Tx) error {
			return tx.Create(&api.Task{Id: id, ServiceId: "web", NodeId: node, Meta: &api.Meta{},
				DesiredState: api.TaskState_TASK_STATE_SHUTDOWN, Status: &api.TaskStatus{State: s}})
		})
	}
	mk("running-up", "up", api.TaskState_TASK_STATE_RUNNING)
	mk("running-down", "down", api.TaskState_TASK_STATE_RUNNING)
	mk("running-gone", "gone", api.TaskState_TASK_STATE_RUNNING)
	mk("stopped", "up", api.TaskState_TASK_STATE_SHUTDOWN)
	mk("never-placed", "", api.TaskState_TASK_STATE_PENDING)
	for _, c := range []struct {
		ids  []string
		want bool
	}{
		{nil, true},
		{[]string{"stopped", "never-placed", "deleted"}, true},
		{[]string{"running-down", "running-gone"}, true},
		{[]string{"stopped", "running-up"}, false},
	} {
		var got bool
		h.st.View(func(tx store.ReadTx) { got = HoldOver(tx, c.ids) })
		if got != c.want {
			t.Errorf("HoldOver(%v) = %v, want %v", c.ids, got, c.want)
		}
	}
}
