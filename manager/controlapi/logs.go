package controlapi

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/logbroker"
	"github.com/minsw/minsw/manager/raftnode"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// ServiceLogs gathers the logs of a service's tasks (or one task's) from
// their nodes through the leader's log broker: one LogLine per line, and
// one LogLine with error for a task whose node cannot be asked.
func (s *Server) ServiceLogs(r *api.ServiceLogsRequest, stream api.Control_ServiceLogsServer) error {
	return s.serviceLogs(stream.Context(), r, stream.Send)
}

// logTask is what a log line's prefix needs of its task.
type logTask struct {
	name     string
	nodeName string
	// attrs are the task's log attributes, sent with its first lines.
	attrs []*api.LogAttr
}

func (m *Server) serviceLogs(ctx context.Context, r *api.ServiceLogsRequest, send func(*api.LogLine) error) error {
	if !m.isLeader() {
		return raftnode.ErrNoLeader
	}
	if m.logs == nil {
		return errdefs.FailedPrecondition("this manager serves no logs")
	}
	var (
		req   = logbroker.Request{Follow: r.GetFollow(), Tail: int(r.GetTail()), Since: optTime(r.GetSince()), Until: optTime(r.GetUntil())}
		info  = map[string]logTask{}
		down  []*api.LogLine
		tasks []*api.Task
		svcID string
		err   error
	)
	m.st.View(func(tx store.ReadTx) {
		svc, serr := tx.ResolveService(r.GetRef())
		switch {
		case serr == nil:
			tasks = tx.TasksByService(svc.GetId())
			svcID = svc.GetId()
		case errdefs.Is(serr, errdefs.KindNotFound):
			t, terr := tx.ResolveTask(r.GetRef())
			if terr != nil {
				err = errdefs.NotFound("no such task or service: %s", r.GetRef())
				return
			}
			tasks = []*api.Task{t}
		default:
			err = serr
			return
		}
		// Tasks placed on a node; terminal ones keep their container
		// there until the orchestrator deletes them, as docker's do.
		sort.Slice(tasks, func(i, j int) bool {
			if tasks[i].GetSlot() != tasks[j].GetSlot() {
				return tasks[i].GetSlot() < tasks[j].GetSlot()
			}
			return tasks[i].GetId() < tasks[j].GetId()
		})
		for _, t := range tasks {
			if t.GetNodeId() == "" || t.GetStatus().GetState() < api.TaskState_TASK_STATE_ASSIGNED {
				continue
			}
			node := tx.Node(t.GetNodeId())
			lt := logTask{name: taskName(t), nodeName: node.GetDescription().GetHostname()}
			if lt.nodeName == "" {
				lt.nodeName = t.GetNodeId()
			}
			info[t.GetId()] = lt
			if node == nil || node.GetStatus().GetState() == api.NodeState_NODE_STATE_DOWN {
				down = append(down, &api.LogLine{TaskId: t.GetId(), NodeId: t.GetNodeId(), TaskName: lt.name, NodeName: lt.nodeName,
					Error: "node " + lt.nodeName + " is down: its logs cannot be read"})
				continue
			}
			req.Tasks = append(req.Tasks, logbroker.Task{ID: t.GetId(), NodeID: t.GetNodeId()})
		}
	})
	if err != nil {
		return err
	}
	for _, l := range down {
		if err := send(l); err != nil {
			return err
		}
	}
	// Lines of several subscriptions (a follow picks up tasks started
	// after it began) go out one at a time.
	var mu sync.Mutex
	handler := func(msg logbroker.Message) error {
		mu.Lock()
		defer mu.Unlock()
		lt := info[msg.TaskID]
		if msg.Attrs != nil {
			lt.attrs = msg.Attrs
			info[msg.TaskID] = lt
		}
		if msg.Err != nil {
			return send(&api.LogLine{TaskId: msg.TaskID, NodeId: msg.NodeID, TaskName: lt.name, NodeName: lt.nodeName, Error: msg.Err.Error()})
		}
		for _, rec := range msg.Records {
			line := &api.LogLine{TaskId: msg.TaskID, NodeId: msg.NodeID, TaskName: lt.name, NodeName: lt.nodeName,
				Data: rec.GetData(), Time: rec.GetTime(), Stderr: rec.GetStderr(), Attrs: lt.attrs}
			if err := send(line); err != nil {
				return err
			}
		}
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return m.logs.Logs(gctx, req, handler) })
	if r.GetFollow() && svcID != "" {
		known := map[string]bool{}
		for _, t := range req.Tasks {
			known[t.ID] = true
		}
		for id := range info {
			known[id] = true
		}
		g.Go(func() error {
			return m.followNewTasks(gctx, svcID, req.Until, known, func(t *api.Task, nodeName string) {
				mu.Lock()
				info[t.GetId()] = logTask{name: taskName(t), nodeName: nodeName}
				mu.Unlock()
				g.Go(func() error {
					return m.logs.Logs(gctx, logbroker.Request{Follow: true, Tail: -1, Until: req.Until, Tasks: []logbroker.Task{{ID: t.GetId(), NodeID: t.GetNodeId()}}}, handler)
				})
			})
		})
	}
	err = g.Wait()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil // the reader went: a follow's normal end
	}
	return err
}

// optTime is ts as a time, zero when unset.
func optTime(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

// followNewTasks calls start for each task of the service placed on a
// node after the follow began (a scale-up, a replaced task), until ctx ends
// or until (when set) has passed.
func (m *Server) followNewTasks(ctx context.Context, svcID string, until time.Time, known map[string]bool, start func(t *api.Task, nodeName string)) error {
	w := m.st.Watch(store.ForTables(store.TableTask))
	defer w.Close()
	var untilC <-chan time.Time
	if !until.IsZero() {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		untilC = t.C
	}
	for {
		var fresh []*api.Task
		names := map[string]string{}
		m.st.View(func(tx store.ReadTx) {
			for _, t := range tx.TasksByService(svcID) {
				// From when its container runs: a subscription to a task
				// still being prepared would end at once, with no log yet.
				if known[t.GetId()] || t.GetNodeId() == "" || t.GetStatus().GetState() < api.TaskState_TASK_STATE_RUNNING {
					continue
				}
				known[t.GetId()] = true
				fresh = append(fresh, t)
				names[t.GetId()] = tx.Node(t.GetNodeId()).GetDescription().GetHostname()
			}
		})
		for _, t := range fresh {
			n := names[t.GetId()]
			if n == "" {
				n = t.GetNodeId()
			}
			start(t, n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-untilC:
			return nil
		case <-w.C:
			w.Drain()
		}
	}
}

// taskName is Swarm's container name for a task: <service>.<slot>.<id>,
// or <service>.<node>.<id> for a global service's task.
func taskName(t *api.Task) string {
	mid := strconv.FormatUint(t.GetSlot(), 10)
	if t.GetSlot() == 0 {
		mid = t.GetNodeId()
	}
	return t.GetServiceName() + "." + mid + "." + t.GetId()
}
