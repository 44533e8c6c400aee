package service

import (
	"testing"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

func TestJobsInServiceLs(t *testing.T) {
	svc := &minswv1.Service{Id: "j1", SpecVersion: 1, Spec: &minswv1.ServiceSpec{Name: "batch",
		Task: &minswv1.TaskSpec{Container: &minswv1.ContainerSpec{Image: "busybox"}},
		Mode: &minswv1.ServiceSpec_ReplicatedJob{ReplicatedJob: &minswv1.ReplicatedJob{TotalCompletions: 5, MaxConcurrent: 2}}}}
	task := func(st, desired minswv1.TaskState) *minswv1.Task {
		return &minswv1.Task{ServiceId: "j1", SpecVersion: 1, DesiredState: desired, Status: &minswv1.TaskStatus{State: st}}
	}
	run, comp := minswv1.TaskState_TASK_STATE_RUNNING, minswv1.TaskState_TASK_STATE_COMPLETE
	tasks := []*minswv1.Task{task(comp, comp), task(comp, comp), task(comp, comp), task(run, run), task(run, run)}
	mode, replicas, ok := jobColumns(svc, tasks, nil)
	if !ok || mode != "replicated job" || replicas != "2/2 (3/5 completed)" {
		t.Errorf("got %q %q, want replicated job 2/2 (3/5 completed)", mode, replicas)
	}
	svc.Spec.Mode = &minswv1.ServiceSpec_GlobalJob{GlobalJob: &minswv1.GlobalJob{}}
	mode, replicas, _ = jobColumns(svc, tasks, nil)
	if mode != "global job" || replicas != "2/2 (3/5 completed)" {
		t.Errorf("got %q %q", mode, replicas)
	}
}
