package orchestrator

import (
	"slices"
	"testing"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// liveByState returns the service's tasks as "slot:state" for the live
// ones, sorted.
func (h *harness) countState(svc string, st api.TaskState) int {
	n := 0
	for _, t := range h.tasks(svc) {
		if t.GetStatus().GetState() == st {
			n++
		}
	}
	return n
}

func (h *harness) liveIDs(svc string) []string {
	var out []string
	for _, t := range h.tasks(svc) {
		if isLive(t) && !isTerminal(t.GetStatus().GetState()) {
			out = append(out, t.Id)
		}
	}
	return out
}

func TestReplicatedJobRunsTotalCompletionsAtMostMaxConcurrent(t *testing.T) {
	h := newHarness(t, "n1")
	h.service("batch", func(s *api.ServiceSpec) {
		s.Mode = &api.ServiceSpec_ReplicatedJob{ReplicatedJob: &api.ReplicatedJob{TotalCompletions: 3, MaxConcurrent: 2}}
		s.Task.Restart = &api.RestartPolicy{Condition: api.RestartCondition_RESTART_CONDITION_ON_FAILURE}
	})
	if got := h.live("batch"); !slices.Equal(got, []string{"1:RUNNING@", "2:RUNNING@"}) {
		t.Fatalf("--max-concurrent 2 of 3 starts slots 1 and 2, got %v", got)
	}
	// Slot 1 completes: slot 3 starts, slot 1 is not restarted.
	h.report(h.liveIDs("batch")[0], api.TaskState_TASK_STATE_COMPLETE, "n1")
	h.reconcile()
	if got := h.live("batch"); !slices.Equal(got, []string{"2:RUNNING@", "3:RUNNING@"}) {
		t.Fatalf("after one completion: %v", got)
	}
	for _, id := range h.liveIDs("batch") {
		h.report(id, api.TaskState_TASK_STATE_COMPLETE, "n1")
	}
	h.reconcile()
	h.reconcile()
	if got := h.live("batch"); len(got) != 0 {
		t.Errorf("a finished job keeps no live task, got %v", got)
	}
	if n := h.countState("batch", api.TaskState_TASK_STATE_COMPLETE); n != 3 || len(h.tasks("batch")) != 3 {
		t.Errorf("%d complete of %d tasks, want 3 of 3 (none restarted)", n, len(h.tasks("batch")))
	}
	for _, tk := range h.tasks("batch") {
		if tk.DesiredState != api.TaskState_TASK_STATE_COMPLETE {
			t.Errorf("task %s desired %v, want COMPLETE as docker shows", tk.Id, tk.DesiredState)
		}
	}
}

func TestReplicatedJobRetriesAFailedTask(t *testing.T) {
	h := newHarness(t, "n1")
	h.service("batch", func(s *api.ServiceSpec) {
		s.Mode = &api.ServiceSpec_ReplicatedJob{ReplicatedJob: &api.ReplicatedJob{TotalCompletions: 1, MaxConcurrent: 1}}
		s.Task.Restart = &api.RestartPolicy{Condition: api.RestartCondition_RESTART_CONDITION_ON_FAILURE}
	})
	first := h.liveIDs("batch")[0]
	h.report(first, api.TaskState_TASK_STATE_FAILED, "n1")
	h.reconcile()
	ids := h.liveIDs("batch")
	if len(ids) != 1 || ids[0] == first {
		t.Fatalf("a failed job task is retried by on-failure: live %v", ids)
	}
}

func TestGlobalJobRunsOncePerNode(t *testing.T) {
	h := newHarness(t, "n1", "n2")
	h.service("sweep", func(s *api.ServiceSpec) {
		s.Mode = &api.ServiceSpec_GlobalJob{GlobalJob: &api.GlobalJob{}}
		s.Task.Restart = &api.RestartPolicy{Condition: api.RestartCondition_RESTART_CONDITION_ON_FAILURE}
	})
	if got := h.live("sweep"); !slices.Equal(got, []string{"0:RUNNING@n1", "0:RUNNING@n2"}) {
		t.Fatalf("global job: %v", got)
	}
	for _, tk := range h.tasks("sweep") {
		h.report(tk.Id, api.TaskState_TASK_STATE_COMPLETE, tk.NodeId)
	}
	h.reconcile()
	if got := h.live("sweep"); len(got) != 0 || len(h.tasks("sweep")) != 2 {
		t.Errorf("completed global job tasks are not restarted: live %v, %d tasks", got, len(h.tasks("sweep")))
	}
}
