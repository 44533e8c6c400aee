// Package scheduling runs the pure scheduler on the leader: it takes a node
// and task snapshot from the store, asks scheduler.Schedule for a plan, and
// commits the plan (PENDING -> ASSIGNED, or the reason a task waits). It
// holds no placement logic of its own.
package scheduling

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/scheduler"
)

// batchSize bounds one store write, so one raft entry stays a few MB.
const batchSize = 5000

// Loop places pending tasks whenever tasks or nodes change.
type Loop struct {
	st    *store.Store
	sched scheduler.Scheduler
	log   *slog.Logger
	now   func() time.Time
}

// New returns a loop over st.
func New(st *store.Store, log *slog.Logger) *Loop {
	if log == nil {
		log = slog.Default()
	}
	return &Loop{st: st, log: log, now: time.Now}
}

// Run places tasks until ctx ends.
func (l *Loop) Run(ctx context.Context) error {
	w := l.st.Watch(func(e store.Event) bool {
		switch o := e.Object.(type) {
		case *api.Task:
			return o.GetStatus().GetState() == api.TaskState_TASK_STATE_PENDING || e.Kind == store.EventDelete ||
				(e.Kind == store.EventUpdate && e.Old.(*api.Task).GetNodeId() != o.GetNodeId())
		case *api.Node:
			return true
		}
		return e.Kind == store.EventReset
	})
	defer w.Close()
	for {
		if _, err := l.Once(ctx); err != nil && ctx.Err() == nil {
			l.log.Warn("scheduling pass", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.C:
			w.Drain()
		}
	}
}

// Once runs one scheduling pass and returns how many tasks it assigned.
func (l *Loop) Once(ctx context.Context) (int, error) {
	var nodes []*api.Node
	var all, pending []*api.Task
	l.st.View(func(tx store.ReadTx) {
		nodes = tx.Nodes()
		all = tx.Tasks()
	})
	for _, t := range all {
		if t.GetStatus().GetState() == api.TaskState_TASK_STATE_PENDING && t.GetDesiredState() <= api.TaskState_TASK_STATE_RUNNING {
			pending = append(pending, t)
		}
	}
	if len(pending) == 0 {
		return 0, nil
	}
	plan := l.sched.Schedule(nodes, all, pending)
	now := timestamppb.New(l.now())
	assigned := 0
	for start := 0; start < len(plan.Decisions); start += batchSize {
		ds := plan.Decisions[start:min(start+batchSize, len(plan.Decisions))]
		n := 0
		err := l.st.Update(ctx, func(tx *store.Tx) error {
			n = 0
			for _, d := range ds {
				cur := tx.Task(d.TaskID)
				if cur == nil || cur.GetStatus().GetState() != api.TaskState_TASK_STATE_PENDING {
					continue
				}
				if !d.Placed() && cur.GetStatus().GetErr() == d.Reason {
					continue
				}
				nt := store.ShallowTask(cur)
				if d.Placed() {
					nt.NodeId = d.NodeID
					nt.Status = &api.TaskStatus{State: api.TaskState_TASK_STATE_ASSIGNED, Message: "scheduler assigned task to node", Timestamp: now}
					n++
				} else {
					nt.Status = proto.Clone(cur.GetStatus()).(*api.TaskStatus)
					nt.Status.Err = d.Reason
					nt.Status.Timestamp = now
				}
				if err := tx.Update(nt); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return assigned, err
		}
		assigned += n
	}
	return assigned, nil
}
