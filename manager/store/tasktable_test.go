package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// taskModel is what the store must hold: task ID -> (service, node).
type taskModel map[string][2]string

func (m taskModel) ids(keep func(svc, node string) bool) []string {
	var out []string
	for id, v := range m {
		if keep(v[0], v[1]) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

func taskIDs(ts []*api.Task) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.GetId())
	}
	return out
}

// checkTasks compares every task read of the store with the model.
func checkTasks(t *testing.T, s *Store, m taskModel, services, nodes []string) {
	t.Helper()
	s.View(func(tx ReadTx) {
		if got, want := taskIDs(tx.Tasks()), m.ids(func(string, string) bool { return true }); !slices.Equal(got, want) {
			t.Fatalf("Tasks() = %d tasks, want %d\n got %v\nwant %v", len(got), len(want), got, want)
		}
		for id, v := range m {
			tk := tx.Task(id)
			if tk == nil || tk.GetServiceId() != v[0] || tk.GetNodeId() != v[1] {
				t.Fatalf("Task(%s) = %v, want service %q node %q", id, tk, v[0], v[1])
			}
		}
		for _, sv := range services {
			if got, want := taskIDs(tx.TasksByService(sv)), m.ids(func(s, _ string) bool { return s == sv }); !slices.Equal(got, want) {
				t.Fatalf("TasksByService(%s) = %v, want %v", sv, got, want)
			}
		}
		for _, n := range nodes {
			if got, want := taskIDs(tx.TasksByNode(n)), m.ids(func(_, nd string) bool { return nd == n }); !slices.Equal(got, want) {
				t.Fatalf("TasksByNode(%s) = %v, want %v", n, got, want)
			}
		}
		if got := tx.TasksByNode(""); len(got) != 0 {
			t.Fatalf("TasksByNode(\"\") = %v, want none", taskIDs(got))
		}
		for _, p := range []string{"t1", "t02", "t0"} {
			var got []string
			for _, o := range tx.ByIDPrefix(TableTask, p) {
				got = append(got, o.GetId())
			}
			want := m.ids(func(string, string) bool { return true })
			want = slices.DeleteFunc(want, func(id string) bool { return !strings.HasPrefix(id, p) })
			if !slices.Equal(got, want) {
				t.Fatalf("ByIDPrefix(%s) = %v, want %v", p, got, want)
			}
		}
	})
}

// TestTaskTableFollowsEveryWrite drives random batches of task creates,
// updates (moving tasks between services and nodes, or not) and deletes
// through both write paths, and checks after each batch that every read
// (by ID, all, by service, by node, by prefix) matches a model, and that
// watchers got exactly one event per write, with the old version on
// updates. A write the task table lost, or an index entry left behind
// when a task moves, fails here.
func TestTaskTableFollowsEveryWrite(t *testing.T) {
	services := []string{"svcA", "svcB", "svcC"}
	nodes := []string{"n1", "n2", "n3", "n4"}
	for mode, s := range stores() {
		t.Run(mode, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			ctx := context.Background()
			m := taskModel{}
			w := s.Watch(ForTables(TableTask))
			defer w.Close()
			next := 0
			for round := 0; round < 60; round++ {
				type want struct {
					kind     EventKind
					id       string
					old, new [2]string
				}
				var wants []want
				staged := taskModel{}
				for k, v := range m {
					staged[k] = v
				}
				err := s.Update(ctx, func(tx *Tx) error {
					for op := 0; op < 1+rng.IntN(300); op++ {
						ids := staged.ids(func(string, string) bool { return true })
						switch r := rng.IntN(10); {
						case r < 4 || len(ids) == 0:
							id := fmt.Sprintf("t%04d", next)
							next++
							v := [2]string{services[rng.IntN(len(services))], ""}
							if rng.IntN(2) == 0 {
								v[1] = nodes[rng.IntN(len(nodes))]
							}
							if err := tx.Create(&api.Task{Id: id, Meta: &api.Meta{}, ServiceId: v[0], NodeId: v[1]}); err != nil {
								return err
							}
							staged[id] = v
							wants = append(wants, want{EventCreate, id, [2]string{}, v})
						case r < 8:
							id := ids[rng.IntN(len(ids))]
							cur := tx.Task(id)
							nt := proto.Clone(cur).(*api.Task)
							switch rng.IntN(3) {
							case 0:
								nt.NodeId = nodes[rng.IntN(len(nodes))]
							case 1:
								nt.ServiceId = services[rng.IntN(len(services))]
								nt.NodeId = ""
							}
							nt.Slot++
							if err := tx.Update(nt); err != nil {
								return err
							}
							wants = append(wants, want{EventUpdate, id, staged[id], [2]string{nt.ServiceId, nt.NodeId}})
							staged[id] = [2]string{nt.ServiceId, nt.NodeId}
						default:
							id := ids[rng.IntN(len(ids))]
							if err := tx.Delete(tx.Task(id)); err != nil {
								return err
							}
							wants = append(wants, want{EventDelete, id, staged[id], staged[id]})
							delete(staged, id)
						}
					}
					if round%7 == 3 {
						return errors.New("abandoned")
					}
					return nil
				})
				if round%7 == 3 {
					if err == nil {
						t.Fatal("an abandoned update committed")
					}
					if evs := w.Drain(); len(evs) != 0 {
						t.Fatalf("an abandoned update published %d events", len(evs))
					}
					checkTasks(t, s, m, services, nodes)
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				m = staged
				checkTasks(t, s, m, services, nodes)
				evs := w.Drain()
				if mode == "replicated" {
					// The proposed batch folds repeated writes of one
					// task; compare the final state per task instead.
					last := map[string]Event{}
					for _, e := range evs {
						last[e.Object.GetId()] = e
					}
					for id, v := range m {
						e, ok := last[id]
						if !ok {
							continue
						}
						if e.Kind == EventDelete {
							t.Fatalf("task %s exists but its last event is a delete", id)
						}
						if tk := e.Object.(*api.Task); tk.ServiceId != v[0] || tk.NodeId != v[1] {
							t.Fatalf("task %s's last event shows %s/%s, want %v", id, tk.ServiceId, tk.NodeId, v)
						}
					}
					continue
				}
				if len(evs) != len(wants) {
					t.Fatalf("round %d: %d events, want %d", round, len(evs), len(wants))
				}
				for i, e := range evs {
					wt := wants[i]
					tk := e.Object.(*api.Task)
					if e.Kind != wt.kind || tk.Id != wt.id || tk.ServiceId != wt.new[0] || tk.NodeId != wt.new[1] {
						t.Fatalf("event %d = %v %s %s/%s, want %+v", i, e.Kind, tk.Id, tk.ServiceId, tk.NodeId, wt)
					}
					if e.Kind == EventUpdate {
						old := e.Old.(*api.Task)
						if old.ServiceId != wt.old[0] || old.NodeId != wt.old[1] {
							t.Fatalf("event %d's old = %s/%s, want %v", i, old.ServiceId, old.NodeId, wt.old)
						}
					}
				}
			}
			if len(m) < 50 {
				t.Fatalf("the run left only %d tasks; it exercises too little", len(m))
			}
			// A restored copy reads the same, indexes included.
			r := New(nil, nil)
			if err := r.Restore(s.Save()); err != nil {
				t.Fatal(err)
			}
			checkTasks(t, r, m, services, nodes)
		})
	}
}

// A reader's snapshot keeps the tasks of its commit while later writes
// move, change and delete them, in every index.
func TestTaskReadsAreSnapshots(t *testing.T) {
	s := New(nil, nil)
	ctx := context.Background()
	if err := s.Update(ctx, func(tx *Tx) error {
		for i := 0; i < 500; i++ {
			if err := tx.Create(&api.Task{Id: fmt.Sprintf("t%04d", i), Meta: &api.Meta{}, ServiceId: "svc", NodeId: "n1"}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var held ReadTx
	s.View(func(tx ReadTx) { held = tx })
	if err := s.Update(ctx, func(tx *Tx) error {
		for _, tk := range tx.Tasks() {
			if tk.Id < "t0250" {
				if err := tx.Delete(tk); err != nil {
					return err
				}
				continue
			}
			nt := proto.Clone(tk).(*api.Task)
			nt.NodeId = "n2"
			if err := tx.Update(nt); err != nil {
				return err
			}
		}
		return tx.Create(&api.Task{Id: "t9999", Meta: &api.Meta{}, ServiceId: "svc", NodeId: "n2"})
	}); err != nil {
		t.Fatal(err)
	}
	if n := len(held.Tasks()); n != 500 {
		t.Errorf("the held snapshot has %d tasks, want 500", n)
	}
	if n := len(held.TasksByNode("n1")); n != 500 {
		t.Errorf("the held snapshot has %d tasks on n1, want 500", n)
	}
	if n := len(held.TasksByNode("n2")); n != 0 {
		t.Errorf("the held snapshot has %d tasks on n2, want 0", n)
	}
	if held.Task("t0000") == nil || held.Task("t9999") != nil {
		t.Error("the held snapshot sees a later delete or create")
	}
	s.View(func(tx ReadTx) {
		if n := len(tx.TasksByNode("n2")); n != 251 {
			t.Errorf("now %d tasks on n2, want 251", n)
		}
		if n := len(tx.TasksByNode("n1")); n != 0 {
			t.Errorf("now %d tasks on n1, want 0", n)
		}
		if n := len(tx.TasksByService("svc")); n != 251 {
			t.Errorf("now %d tasks of svc, want 251", n)
		}
	})
}

// Readers running while a writer moves every task from one node to the
// other, commit after commit, each see one whole commit: all tasks on one
// node, in every index, and the memdb tables of the same commit. Run with
// -race, it also checks that readers and the writer share B-tree nodes
// safely.
func TestReadersDuringWritesSeeWholeCommits(t *testing.T) {
	s := New(nil, nil)
	ctx := context.Background()
	const tasks = 300
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.Create(&api.Node{Id: "n1", Meta: &api.Meta{}, Spec: &api.NodeSpec{Labels: map[string]string{"holds": "n1"}}}); err != nil {
			return err
		}
		for i := 0; i < tasks; i++ {
			if err := tx.Create(&api.Task{Id: fmt.Sprintf("t%04d", i), Meta: &api.Meta{}, ServiceId: "svc", NodeId: "n1"}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	errs := make(chan string, 4)
	for r := 0; r < 2; r++ {
		go func() {
			for {
				select {
				case <-done:
					errs <- ""
					return
				default:
				}
				s.View(func(tx ReadTx) {
					holder := tx.Node("n1").GetSpec().GetLabels()["holds"]
					n1, n2 := len(tx.TasksByNode("n1")), len(tx.TasksByNode("n2"))
					all := tx.Tasks()
					if len(all) != tasks || len(tx.TasksByService("svc")) != tasks {
						errs <- fmt.Sprintf("a reader saw %d tasks", len(all))
					}
					want := map[string][2]int{"n1": {tasks, 0}, "n2": {0, tasks}}[holder]
					if n1 != want[0] || n2 != want[1] || all[0].NodeId != holder || all[tasks-1].NodeId != holder {
						errs <- fmt.Sprintf("a reader saw %d on n1 and %d on n2 while the node says %s", n1, n2, holder)
					}
				})
			}
		}()
	}
	for round := 0; round < 40; round++ {
		to := []string{"n2", "n1"}[round%2]
		if err := s.Update(ctx, func(tx *Tx) error {
			nd := proto.Clone(tx.Node("n1")).(*api.Node)
			nd.Spec.Labels["holds"] = to
			if err := tx.Update(nd); err != nil {
				return err
			}
			for _, tk := range tx.Tasks() {
				nt := ShallowTask(tk)
				nt.NodeId = to
				if err := tx.Update(nt); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	for finished := 0; finished < 2; {
		if e := <-errs; e != "" {
			t.Fatal(e)
		} else {
			finished++
		}
	}
}
