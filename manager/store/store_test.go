package store

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// loopback is a Proposer that "replicates" by applying at the next index,
// as a single raft node would: it exercises the proposing path.
type loopback struct {
	s   *Store
	idx uint64
}

func (l *loopback) Propose(_ context.Context, cmd *api.RaftCommand) error {
	l.idx++
	// Round-trip through bytes, as the raft log does.
	b, err := proto.Marshal(cmd)
	if err != nil {
		return err
	}
	var c api.RaftCommand
	if err := proto.Unmarshal(b, &c); err != nil {
		return err
	}
	return l.s.Apply(l.idx, &c)
}

func stores() map[string]*Store {
	local := New(nil, nil)
	replicated := New(nil, nil)
	replicated.SetProposer(&loopback{s: replicated})
	return map[string]*Store{"local": local, "replicated": replicated}
}

func svc(id, name string) *api.Service {
	return &api.Service{Id: id, Meta: &api.Meta{}, Spec: &api.ServiceSpec{Name: name}}
}

func TestCreateReadUpdateDelete(t *testing.T) {
	for mode, s := range stores() {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			if err := s.Update(ctx, func(tx *Tx) error { return tx.Create(svc("s1", "web")) }); err != nil {
				t.Fatal(err)
			}
			var got *api.Service
			s.View(func(tx ReadTx) { got = tx.ServiceByName("web") })
			if got == nil || got.Id != "s1" || got.Meta.Version == 0 || got.Meta.CreatedAt == nil {
				t.Fatalf("created service reads back as %v", got)
			}
			up := proto.Clone(got).(*api.Service)
			up.Spec.Name = "web2"
			if err := s.Update(ctx, func(tx *Tx) error { return tx.Update(up) }); err != nil {
				t.Fatal(err)
			}
			// A second writer holding the old version loses.
			stale := proto.Clone(got).(*api.Service)
			stale.Spec.Name = "web3"
			err := s.Update(ctx, func(tx *Tx) error { return tx.Update(stale) })
			if !errdefs.Is(err, errdefs.KindConflict) {
				t.Fatalf("stale update: got %v, want a conflict", err)
			}
			s.View(func(tx ReadTx) {
				if tx.ServiceByName("web2") == nil || tx.ServiceByName("web3") != nil || tx.ServiceByName("web") != nil {
					t.Fatal("name index does not follow the update")
				}
			})
			var cur *api.Service
			s.View(func(tx ReadTx) { cur = tx.Service("s1") })
			if err := s.Update(ctx, func(tx *Tx) error { return tx.Delete(cur) }); err != nil {
				t.Fatal(err)
			}
			s.View(func(tx ReadTx) {
				if len(tx.Services()) != 0 {
					t.Fatal("service still there after delete")
				}
			})
		})
	}
}

func TestNameTakenLeavesStoreUntouched(t *testing.T) {
	for mode, s := range stores() {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			if err := s.Update(ctx, func(tx *Tx) error { return tx.Create(svc("s1", "web")) }); err != nil {
				t.Fatal(err)
			}
			before := s.Save()
			err := s.Update(ctx, func(tx *Tx) error {
				if err := tx.Create(svc("s2", "other")); err != nil {
					return err
				}
				return tx.Create(svc("s3", "web"))
			})
			if !errdefs.Is(err, errdefs.KindAlreadyExists) {
				t.Fatalf("got %v, want AlreadyExists", err)
			}
			if !proto.Equal(before, s.Save()) {
				t.Fatal("a refused batch changed the store")
			}
		})
	}
}

func TestFSMRefusesConflictingBatchAsAWhole(t *testing.T) {
	s := New(nil, nil)
	if err := s.Apply(1, &api.RaftCommand{Actions: []*api.StoreAction{newAction(api.StoreActionKind_STORE_ACTION_CREATE, svc("a", "web"))}}); err != nil {
		t.Fatal(err)
	}
	before := s.Save()
	// Two proposers raced: both created "web"; the second batch must fail whole.
	err := s.Apply(2, &api.RaftCommand{Actions: []*api.StoreAction{
		newAction(api.StoreActionKind_STORE_ACTION_CREATE, svc("b", "api")),
		newAction(api.StoreActionKind_STORE_ACTION_CREATE, svc("c", "web")),
	}})
	if !errdefs.Is(err, errdefs.KindAlreadyExists) {
		t.Fatalf("got %v", err)
	}
	if !proto.Equal(before, s.Save()) {
		t.Fatal("half a batch was applied")
	}
}

func TestRepeatedWritesInOneTxFoldIntoOneAction(t *testing.T) {
	s := stores()["replicated"]
	ctx := context.Background()
	task := &api.Task{Id: "t1", Meta: &api.Meta{}, ServiceId: "s", Slot: 1}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.Create(task) }); err != nil {
		t.Fatal(err)
	}
	err := s.Update(ctx, func(tx *Tx) error {
		t1 := proto.Clone(tx.Task("t1")).(*api.Task)
		t1.NodeId = "n1"
		if err := tx.Update(t1); err != nil {
			return err
		}
		t2 := proto.Clone(tx.Task("t1")).(*api.Task)
		t2.DesiredState = api.TaskState_TASK_STATE_RUNNING
		return tx.Update(t2)
	})
	if err != nil {
		t.Fatal(err)
	}
	s.View(func(tx ReadTx) {
		got := tx.Task("t1")
		if got.NodeId != "n1" || got.DesiredState != api.TaskState_TASK_STATE_RUNNING {
			t.Fatalf("got %v", got)
		}
		if len(tx.TasksByNode("n1")) != 1 || len(tx.TasksBySlot("s", 1)) != 1 {
			t.Fatal("indexes do not follow")
		}
	})
}

func TestSnapshotRestore(t *testing.T) {
	s := New(nil, nil)
	ctx := context.Background()
	_ = s.Update(ctx, func(tx *Tx) error {
		_ = tx.Create(svc("s1", "web"))
		_ = tx.Create(&api.Network{Id: "n1", Meta: &api.Meta{}, Spec: &api.NetworkSpec{Name: "mynet"}})
		return tx.Create(&api.Task{Id: "t1", Meta: &api.Meta{}, ServiceId: "s1", Slot: 1})
	})
	snap := s.Save()
	r := New(nil, nil)
	w := r.Watch(nil)
	defer w.Close()
	if err := r.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(snap, r.Save()) {
		t.Fatal("restored store differs")
	}
	if ev := w.Drain(); len(ev) != 1 || ev[0].Kind != EventReset {
		t.Fatalf("restore events: %v", ev)
	}
}

func TestResolveByIDNameAndPrefix(t *testing.T) {
	s := New(nil, nil)
	_ = s.Update(context.Background(), func(tx *Tx) error {
		_ = tx.Create(svc("abc111", "web"))
		return tx.Create(svc("abc222", "client"))
	})
	s.View(func(tx ReadTx) {
		for ref, want := range map[string]string{"abc111": "abc111", "web": "abc111", "abc2": "abc222"} {
			got, err := tx.ResolveService(ref)
			if err != nil || got.Id != want {
				t.Errorf("resolve %q: %v %v", ref, got, err)
			}
		}
		if _, err := tx.ResolveService("abc"); !errdefs.Is(err, errdefs.KindFailedPrecondition) {
			t.Errorf("ambiguous prefix: %v", err)
		}
		if _, err := tx.ResolveService("nope"); !errdefs.Is(err, errdefs.KindNotFound) || err.Error() != "service nope not found" {
			t.Errorf("unknown: %v", err)
		}
	})
}

func TestWatchersSeeCommittedEventsOnly(t *testing.T) {
	s := New(nil, nil)
	w := s.Watch(ForTables(TableTask))
	defer w.Close()
	ctx := context.Background()
	_ = s.Update(ctx, func(tx *Tx) error { return tx.Create(svc("s1", "web")) })
	_ = s.Update(ctx, func(tx *Tx) error {
		_ = tx.Create(&api.Task{Id: "t1", Meta: &api.Meta{}})
		return errdefs.InvalidArgument("changed my mind")
	})
	_ = s.Update(ctx, func(tx *Tx) error { return tx.Create(&api.Task{Id: "t2", Meta: &api.Meta{}}) })
	ev := w.Drain()
	if len(ev) != 1 || ev[0].Object.GetId() != "t2" {
		t.Fatalf("events: %+v", ev)
	}
}

// Two attempts of one create request (same idempotency key, different
// IDs and names) commit as one object.
func TestIdempotencyKeyMakesOneObject(t *testing.T) {
	st := New(nil, nil)
	ctx := context.Background()
	create := func(id, name, key string) error {
		return st.Update(ctx, func(tx *Tx) error {
			return tx.Create(&api.Service{Id: id, Meta: &api.Meta{IdempotencyKey: key}, Spec: &api.ServiceSpec{Name: name}})
		})
	}
	if err := create("s1", "eager_turing", "req-1"); err != nil {
		t.Fatal(err)
	}
	if err := create("s2", "brave_hopper", "req-1"); !errdefs.Is(err, errdefs.KindAlreadyExists) {
		t.Fatalf("second attempt of the same request: %v", err)
	}
	if err := create("s3", "calm_noether", "req-2"); err != nil {
		t.Fatalf("another request: %v", err)
	}
	if err := create("s4", "kind_lovelace", ""); err != nil {
		t.Fatalf("a request without a key: %v", err)
	}
	// The key finds its object by index, in this store and in one
	// restored from its snapshot; a key no create used finds none.
	restored := New(nil, nil)
	if err := restored.Restore(st.Save()); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*Store{"applied": st, "restored": restored} {
		s.View(func(tx ReadTx) {
			if got := tx.ServiceWithKey("req-2"); got.GetId() != "s3" {
				t.Errorf("%s: req-2 finds %v, want s3", name, got)
			}
			if got := tx.ServiceWithKey("req-9"); got != nil {
				t.Errorf("%s: an unused key finds %v", name, got)
			}
			if got := tx.ServiceWithKey(""); got != nil {
				t.Errorf("%s: no key finds %v", name, got)
			}
		})
	}
	if err := restored.Update(ctx, func(tx *Tx) error {
		return tx.Create(&api.Service{Id: "s5", Meta: &api.Meta{IdempotencyKey: "req-1"}, Spec: &api.ServiceSpec{Name: "late"}})
	}); !errdefs.Is(err, errdefs.KindAlreadyExists) {
		t.Fatalf("an attempt of req-1 on the restored store: %v", err)
	}
}

// The store's version moves with every write, in both modes, and is
// unknown (0) after a restore, whose index the store is not told.
func TestViewVersion(t *testing.T) {
	version := func(s *Store) (v uint64) {
		s.ViewVersion(func(_ ReadTx, got uint64) { v = got })
		return v
	}
	for name, s := range stores() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if err := s.Update(ctx, func(tx *Tx) error { return tx.Create(svc("s1", "web")) }); err != nil {
				t.Fatal(err)
			}
			v1 := version(s)
			if v1 == 0 || version(s) != v1 {
				t.Fatalf("version after a write: %d, then %d", v1, version(s))
			}
			// A refused write changes nothing, not even the version.
			_ = s.Update(ctx, func(tx *Tx) error { return tx.Create(svc("s2", "web")) })
			if v := version(s); v != v1 {
				t.Fatalf("version after a refused write: %d, was %d", v, v1)
			}
			if err := s.Update(ctx, func(tx *Tx) error { return tx.Create(svc("s3", "api")) }); err != nil {
				t.Fatal(err)
			}
			if v := version(s); v <= v1 {
				t.Fatalf("version after a second write: %d, was %d", v, v1)
			}
			if err := s.Restore(s.Save()); err != nil {
				t.Fatal(err)
			}
			if v := version(s); v != 0 {
				t.Fatalf("version after a restore: %d, want 0 (unknown)", v)
			}
		})
	}
}
