// Package store owns the cluster state: go-memdb tables of nodes, networks,
// services, tasks and the cluster object, changed only by batches of
// actions. With a Proposer (raft) a batch is replicated first and applied by
// every manager's FSM through Apply; without one (tests, benchmarks) it is
// applied at once. It knows nothing of raft, gRPC or scheduling.
package store

import (
	"context"

	"fmt"
	"sync"
	"sync/atomic"
	"time"

	memdb "github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Proposer replicates a command; Propose returns once the local FSM has
// applied it, with the error Apply returned for it.
type Proposer interface {
	Propose(ctx context.Context, cmd *api.RaftCommand) error
}

// Store is the in-memory state, replicated by raft when it has a Proposer.
type Store struct {
	proposer Proposer
	now      func() time.Time

	// cur is the committed state readers see: a go-memdb snapshot and the
	// task table of one commit, swapped as a pair so a reader never sees
	// the tables of two different commits.
	cur atomic.Pointer[state]

	mu sync.Mutex // serialises write transactions, commits and Apply
	// db and tasks are the writer's copies of the committed state (under
	// mu); a transaction writes clones of them and, on commit, they become
	// the committed state and cur a new snapshot of it.
	db      *memdb.MemDB
	tasks   *taskTable
	applied uint64 // last applied index (raft index, or a local counter)
	// version is the index of the last write that changed the store (the
	// same state on every member at that index), 0 while unknown (after a
	// snapshot restore, until the next write): see ViewVersion.
	version atomic.Uint64

	watchMu  sync.Mutex
	watchers map[*Watcher]struct{}
}

// New returns an empty store. proposer may be nil: writes then apply
// locally. now may be nil (time.Now).
func New(proposer Proposer, now func() time.Time) *Store {
	db, err := newDB()
	if err != nil {
		panic("store: schema: " + err.Error())
	}
	if now == nil {
		now = time.Now
	}
	s := &Store{db: db, tasks: newTaskTable(), proposer: proposer, now: now, watchers: map[*Watcher]struct{}{}}
	s.publishState()
	return s
}

// state is one committed state of the store; nothing in it is ever written.
type state struct {
	db    *memdb.MemDB
	tasks *taskTable
}

// publishState makes the writer's committed copies the state readers see
// (under mu, or before the store is shared). Both snapshots are O(1).
func (s *Store) publishState() {
	s.cur.Store(&state{db: s.db.Snapshot(), tasks: s.tasks.clone()})
}

func (st *state) read() ReadTx { return ReadTx{txn: st.db.Txn(false), tasks: st.tasks} }

// begin opens a write transaction on clones of the committed state (under
// mu). Only commit makes them the committed state.
func (s *Store) begin(index uint64) (*Tx, *memdb.Txn) {
	txn := s.db.Txn(true)
	return s.newTx(txn, s.tasks.clone(), index), txn
}

// commit makes tx's writes the committed state at index idx (under mu) and
// tells the watchers: readers woken by an event see the state it announces.
func (s *Store) commit(tx *Tx, txn *memdb.Txn, idx uint64) {
	txn.Commit()
	s.tasks = tx.tasks
	s.publishState()
	s.applied = idx
	s.version.Store(idx)
	s.publish(tx.events)
}

// SetProposer sets the proposer after construction (the raft node needs the
// store as its FSM before it exists itself).
func (s *Store) SetProposer(p Proposer) { s.proposer = p }

// newDB makes the tables. The store publishes its own events (Watch), so it
// has no use for go-memdb's per-query watch channels; a MemDB taken by
// Snapshot does not track mutations for them, which keeps a write of
// thousands of objects linear (with tracking, a write that changes more than
// 8,192 radix nodes makes its commit walk the whole table).
func newDB() (*memdb.MemDB, error) {
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		return nil, err
	}
	return db.Snapshot(), nil
}

// View runs fn on a consistent read-only snapshot.
func (s *Store) View(fn func(tx ReadTx)) {
	fn(s.cur.Load().read())
}

// ViewVersion is View with the store's version: a reader that kept what it
// derived from an earlier read at the same non-zero version may reuse it,
// since no write has been acknowledged since (a write's version is set
// before it is acknowledged). The snapshot may be newer than version, never
// older.
func (s *Store) ViewVersion(fn func(tx ReadTx, version uint64)) {
	v := s.version.Load()
	fn(s.cur.Load().read(), v)
}

// Update runs fn in a write transaction whose reads see its own writes. The
// actions fn records are then committed as one batch: replicated through the
// proposer, or applied locally. If fn returns an error, nothing is written.
// A batch that conflicts with a write committed meanwhile fails as a whole
// with an errdefs Conflict error.
func (s *Store) Update(ctx context.Context, fn func(tx *Tx) error) error {
	if s.proposer == nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		tx, txn := s.begin(s.applied + 1)
		if err := fn(tx); err != nil {
			txn.Abort()
			return err
		}
		if tx.local == 0 {
			txn.Abort()
			return nil
		}
		s.commit(tx, txn, s.applied+1)
		return nil
	}
	s.mu.Lock()
	tx, txn := s.begin(0)
	err := fn(tx)
	txn.Abort() // the FSM applies the batch; this copy was for reading our own writes
	s.mu.Unlock()
	if err != nil || len(tx.actions) == 0 {
		return err
	}
	return s.proposer.Propose(ctx, &api.RaftCommand{Actions: tx.actionList()})
}

// Batch splits a large write into several Update calls of at most size
// actions each, so one raft entry stays small. fn is called once per
// element and records that element's changes.
func (s *Store) Batch(ctx context.Context, n, size int, fn func(tx *Tx, i int) error) error {
	for start := 0; start < n; start += size {
		end := min(start+size, n)
		err := s.Update(ctx, func(tx *Tx) error {
			for i := start; i < end; i++ {
				if err := fn(tx, i); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Apply applies a replicated command at raft index idx; the FSM calls it.
// A command whose preconditions fail changes nothing and returns the error.
func (s *Store) Apply(idx uint64, cmd *api.RaftCommand) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, txn := s.begin(idx)
	for _, a := range cmd.GetActions() {
		if err := tx.applyAction(a); err != nil {
			txn.Abort()
			s.applied = idx
			return err
		}
	}
	s.commit(tx, txn, idx)
	return nil
}

// Save returns the whole store as a snapshot message.
func (s *Store) Save() *api.StoreSnapshot {
	snap := &api.StoreSnapshot{}
	s.View(func(tx ReadTx) {
		snap.Nodes = tx.Nodes()
		snap.Networks = tx.Networks()
		snap.Services = tx.Services()
		snap.Tasks = tx.Tasks()
		if c := tx.Cluster(); c != nil {
			snap.Clusters = []*api.Cluster{c}
		}
		snap.Secrets = tx.Secrets()
		snap.Configs = tx.Configs()
	})
	return snap
}

// Restore replaces the whole store with snap (raft snapshot restore).
func (s *Store) Restore(snap *api.StoreSnapshot) error {
	db, err := newDB()
	if err != nil {
		return err
	}
	txn := db.Txn(true)
	tasks := newTaskTable()
	insert := func(table string, o Object) error { return txn.Insert(table, o) }
	for _, o := range snap.GetNodes() {
		if err := insert(TableNode, o); err != nil {
			return err
		}
	}
	for _, o := range snap.GetNetworks() {
		if err := insert(TableNetwork, o); err != nil {
			return err
		}
	}
	for _, o := range snap.GetServices() {
		if err := insert(TableService, o); err != nil {
			return err
		}
	}
	services := make(map[string]*api.Service, len(snap.GetServices()))
	for _, o := range snap.GetServices() {
		services[o.GetId()] = o
	}
	for _, o := range snap.GetTasks() {
		if o.GetId() == "" {
			return errdefs.InvalidArgument("store: snapshot holds a task without an ID")
		}
		shareTask(o, nil, services[o.GetServiceId()])
		tasks.put(o, tasks.get(o.GetId()))
	}
	for _, o := range snap.GetClusters() {
		if err := insert(TableCluster, o); err != nil {
			return err
		}
	}
	for _, o := range snap.GetSecrets() {
		if err := insert(TableSecret, o); err != nil {
			return err
		}
	}
	for _, o := range snap.GetConfigs() {
		if err := insert(TableConfig, o); err != nil {
			return err
		}
	}
	txn.Commit()
	s.mu.Lock()
	s.db = db
	s.tasks = tasks
	s.publishState()
	s.version.Store(0) // the snapshot's index is not known here
	s.mu.Unlock()
	s.publish([]Event{{Kind: EventReset}})
	return nil
}

// ReadTx reads a consistent snapshot. Returned objects are shared: never
// modify one, clone it (proto.Clone or the typed Clone helpers) first.
type ReadTx struct {
	txn   *memdb.Txn
	tasks *taskTable
}

func get[T Object](tx ReadTx, table, index string, arg string) T {
	var zero T
	raw, err := tx.txn.First(table, index, arg)
	if err != nil || raw == nil {
		return zero
	}
	return raw.(T)
}

func list[T Object](tx ReadTx, table, index string, args ...any) []T {
	it, err := tx.txn.Get(table, index, args...)
	if err != nil {
		return nil
	}
	var out []T
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(T))
	}
	return out
}

func (tx ReadTx) Node(id string) *api.Node { return get[*api.Node](tx, TableNode, indexID, id) }
func (tx ReadTx) Nodes() []*api.Node       { return list[*api.Node](tx, TableNode, indexID) }
func (tx ReadTx) Network(id string) *api.Network {
	return get[*api.Network](tx, TableNetwork, indexID, id)
}
func (tx ReadTx) NetworkByName(name string) *api.Network {
	return get[*api.Network](tx, TableNetwork, indexName, name)
}
func (tx ReadTx) Networks() []*api.Network { return list[*api.Network](tx, TableNetwork, indexID) }
func (tx ReadTx) Service(id string) *api.Service {
	return get[*api.Service](tx, TableService, indexID, id)
}
func (tx ReadTx) ServiceByName(name string) *api.Service {
	return get[*api.Service](tx, TableService, indexName, name)
}
func (tx ReadTx) Services() []*api.Service { return list[*api.Service](tx, TableService, indexID) }
func (tx ReadTx) Task(id string) *api.Task { return tx.tasks.get(id) }
func (tx ReadTx) Tasks() []*api.Task       { return tx.tasks.all() }
func (tx ReadTx) TasksByService(serviceID string) []*api.Task {
	return tx.tasks.group(tx.tasks.byService, serviceID)
}
func (tx ReadTx) TasksByNode(nodeID string) []*api.Task {
	return tx.tasks.group(tx.tasks.byNode, nodeID)
}

// TasksBySlot returns a replicated service's tasks in one slot (old and
// current). It filters the service's tasks rather than keeping an index:
// every index costs a radix insert on each task write, and this is read
// only when a task ends.
func (tx ReadTx) TasksBySlot(serviceID string, slot uint64) []*api.Task {
	var out []*api.Task
	for _, t := range tx.TasksByService(serviceID) {
		if t.GetSlot() == slot {
			out = append(out, t)
		}
	}
	return out
}

// Cluster returns the cluster object (there is one once the swarm exists).
func (tx ReadTx) Cluster() *api.Cluster {
	cs := list[*api.Cluster](tx, TableCluster, indexID)
	if len(cs) == 0 {
		return nil
	}
	return cs[0]
}

// ByIDPrefix returns the objects of table whose ID starts with prefix.
func (tx ReadTx) ByIDPrefix(table, prefix string) []Object {
	if table == TableTask {
		return tx.tasks.withIDPrefix(prefix)
	}
	return list[Object](tx, table, indexID+"_prefix", prefix)
}

// Tx is a write transaction: reads see its own writes; writes are recorded
// as actions.
type Tx struct {
	ReadTx
	s       *Store
	index   uint64 // version given to written objects; 0 while proposing
	now     *timestamppb.Timestamp
	actions []*api.StoreAction
	pos     map[string]int // table/id -> position in actions
	local   int            // writes applied directly (no proposer)
	events  []Event
	// read is the task Task last returned, while no task was written
	// since: read-modify-write of a task then looks it up once.
	read *api.Task
}

// Task returns the task with ID id as the transaction sees it.
func (tx *Tx) Task(id string) *api.Task {
	if tx.read != nil && tx.read.Id == id {
		return tx.read
	}
	tx.read = tx.tasks.get(id)
	return tx.read
}

func (s *Store) newTx(txn *memdb.Txn, tasks *taskTable, index uint64) *Tx {
	return &Tx{ReadTx: ReadTx{txn: txn, tasks: tasks}, s: s, index: index, now: timestamppb.New(s.now()), pos: map[string]int{}}
}

func (tx *Tx) actionList() []*api.StoreAction {
	out := tx.actions[:0:0]
	for _, a := range tx.actions {
		if a != nil {
			out = append(out, a)
		}
	}
	return out
}

// Create inserts o, which must carry a new ID (and a free name where the
// table has names). o must not be modified by the caller afterwards.
func (tx *Tx) Create(o Object) error {
	m := o.GetMeta()
	if m == nil {
		return errdefs.InvalidArgument("store: %T has no meta", o)
	}
	m.CreatedAt, m.UpdatedAt, m.Version = tx.now, tx.now, 0
	a := newAction(api.StoreActionKind_STORE_ACTION_CREATE, o)
	return tx.record(a, o)
}

// Update replaces the stored object with o's ID by o. o.Meta.Version must be
// the version the caller read (the object is then modified in place from a
// clone): a newer stored version means another writer won.
func (tx *Tx) Update(o Object) error {
	m := o.GetMeta()
	if m == nil {
		return errdefs.InvalidArgument("store: %T has no meta", o)
	}
	m.UpdatedAt = tx.now
	a := newAction(api.StoreActionKind_STORE_ACTION_UPDATE, o)
	return tx.record(a, o)
}

// Delete removes o (by ID); o.Meta.Version guards it as for Update.
func (tx *Tx) Delete(o Object) error {
	a := newAction(api.StoreActionKind_STORE_ACTION_REMOVE, o)
	return tx.record(a, o)
}

// record applies a to the transaction (checking its preconditions) and keeps
// it for the batch, folding repeated writes of one object into one action so
// the batch's version checks stay those of the state the caller read.
func (tx *Tx) record(a *api.StoreAction, o Object) error {
	if tx.s.proposer == nil {
		if err := tx.applyAction(a); err != nil {
			return err
		}
		tx.local++ // applied for real; nothing to replicate
		return nil
	}
	key := tableOf(o) + "/" + o.GetId()
	prev, seen := tx.pos[key]
	var base uint64
	var prevKind api.StoreActionKind
	if seen {
		pa := tx.actions[prev]
		prevKind = pa.Kind
		po, _ := actionObject(pa)
		base = po.GetMeta().GetVersion()
		// The object's in-transaction version is the tentative one; the
		// check against the transaction's state uses that.
	}
	t, isTask := o.(*api.Task)
	var before *api.Task // the task as the transaction held it
	if isTask && a.Kind == api.StoreActionKind_STORE_ACTION_UPDATE {
		before = tx.Task(t.GetId())
	}
	if err := tx.applyAction(a); err != nil {
		return err
	}
	rec := o
	if seen {
		rec.GetMeta().Version = base
	}
	kind := a.Kind
	switch {
	case seen && prevKind == api.StoreActionKind_STORE_ACTION_CREATE && kind == api.StoreActionKind_STORE_ACTION_REMOVE:
		tx.actions[prev] = nil
		delete(tx.pos, key)
		return nil
	case seen && prevKind == api.StoreActionKind_STORE_ACTION_CREATE:
		kind = api.StoreActionKind_STORE_ACTION_CREATE
	}
	na := newAction(kind, rec)
	if isTask && kind == api.StoreActionKind_STORE_ACTION_UPDATE && before != nil {
		var pa *api.StoreAction
		if seen {
			pa = tx.actions[prev]
		}
		na = keepStored(t, before, pa)
	}
	if seen {
		tx.actions[prev] = na
		return nil
	}
	tx.pos[key] = len(tx.actions)
	tx.actions = append(tx.actions, na)
	return nil
}

// applyAction checks a's preconditions against the transaction's state and
// applies it. It is the one place where the store changes, used both while
// recording (tentatively) and by the FSM (for real).
func (tx *Tx) applyAction(a *api.StoreAction) error {
	o, err := actionObject(a)
	if err != nil {
		return err
	}
	table := tableOf(o)
	id := o.GetId()
	if id == "" {
		return errdefs.InvalidArgument("store: %s without an ID", table)
	}
	old, err := tx.lookup(table, id)
	if err != nil {
		return err
	}
	checkName := func() error {
		name, ok := nameOf(o)
		if !ok {
			return nil
		}
		other, err := tx.txn.First(table, indexName, name)
		if err != nil {
			return err
		}
		if other != nil && other.(Object).GetId() != id {
			return errdefs.AlreadyExists("%s name %q is already in use by %s", table, name, other.(Object).GetId())
		}
		return nil
	}
	checkVersion := func() error {
		if old == nil {
			return errdefs.NotFound("%s %s not found", table, id)
		}
		if want := o.GetMeta().GetVersion(); want != old.GetMeta().GetVersion() {
			return errdefs.Conflict("%s %s changed meanwhile (version %d, expected %d)", table, id, old.GetMeta().GetVersion(), want)
		}
		return nil
	}
	// The object is stored as it is: callers hand it over (Create/Update
	// document that they must not touch it afterwards), and the FSM owns
	// what it decoded. Not cloning here halves the cost of a large write.
	if a.Kind != api.StoreActionKind_STORE_ACTION_UPDATE && keepsAny(a) {
		return errdefs.InvalidArgument("store: only a task update may keep parts of the stored version")
	}
	switch a.Kind {
	case api.StoreActionKind_STORE_ACTION_CREATE:
		if old != nil {
			return errdefs.AlreadyExists("%s %s already exists", table, id)
		}
		if err := checkName(); err != nil {
			return err
		}
		if err := tx.checkIdempotencyKey(table, o); err != nil {
			return err
		}
		if svc, ok := o.(*api.Service); ok {
			if err := tx.checkHolders(svc); err != nil {
				return err
			}
		}
		if nw, ok := o.(*api.Network); ok {
			if err := tx.checkNetwork(nw); err != nil {
				return err
			}
		}
		n := o
		n.GetMeta().Version = tx.index
		if t, ok := n.(*api.Task); ok && tx.index != 0 {
			shareTask(t, nil, tx.Service(t.GetServiceId()))
		}
		if err := tx.insert(table, n, nil); err != nil {
			return err
		}
		tx.events = append(tx.events, Event{Kind: EventCreate, Table: table, Object: n})
	case api.StoreActionKind_STORE_ACTION_UPDATE:
		if err := checkVersion(); err != nil {
			return err
		}
		if err := checkName(); err != nil {
			return err
		}
		if svc, ok := o.(*api.Service); ok {
			if err := tx.checkHolders(svc); err != nil {
				return err
			}
		}
		if err := takeKept(a, o, old); err != nil {
			return err
		}
		n := o
		n.GetMeta().Version = tx.index
		n.GetMeta().CreatedAt = old.GetMeta().GetCreatedAt()
		if t, ok := n.(*api.Task); ok && tx.index != 0 {
			ot := old.(*api.Task)
			var svc *api.Service
			if t.Spec != ot.Spec || t.Endpoint != ot.Endpoint {
				// A task keeping the stored version's spec and endpoint
				// already shares what its service holds (through it).
				svc = tx.Service(t.GetServiceId())
			}
			shareTask(t, ot, svc)
		}
		if err := tx.insert(table, n, old); err != nil {
			return err
		}
		tx.events = append(tx.events, Event{Kind: EventUpdate, Table: table, Object: n, Old: old})
	case api.StoreActionKind_STORE_ACTION_REMOVE:
		if err := checkVersion(); err != nil {
			return err
		}
		if err := tx.remove(table, old); err != nil {
			return err
		}
		tx.events = append(tx.events, Event{Kind: EventDelete, Table: table, Object: old})
	default:
		return fmt.Errorf("store: unknown action kind %v", a.Kind)
	}
	if a.Kind != api.StoreActionKind_STORE_ACTION_REMOVE && tx.index == 0 {
		// While proposing, keep the caller's view coherent: what it reads
		// back carries the version it read, so a second write of the same
		// object in this transaction passes the check above.
		n, _ := tx.lookup(table, id)
		if n != nil && old != nil {
			n.GetMeta().Version = old.GetMeta().GetVersion()
		}
	}
	return nil
}

// lookup returns the object of table with ID id in the transaction's
// state, nil if there is none.
func (tx *Tx) lookup(table, id string) (Object, error) {
	if table == TableTask {
		if t := tx.Task(id); t != nil {
			return t, nil
		}
		return nil, nil
	}
	cur, err := tx.txn.First(table, indexID, id)
	if err != nil || cur == nil {
		return nil, err
	}
	return cur.(Object), nil
}

// insert stores n in table, replacing old (nil for a new object).
func (tx *Tx) insert(table string, n, old Object) error {
	if table == TableTask {
		ot, _ := old.(*api.Task)
		tx.tasks.put(n.(*api.Task), ot)
		tx.read = nil
		return nil
	}
	return tx.txn.Insert(table, n)
}

// remove deletes the stored object old from table.
func (tx *Tx) remove(table string, old Object) error {
	if table == TableTask {
		tx.tasks.remove(old.(*api.Task))
		tx.read = nil
		return nil
	}
	return tx.txn.Delete(table, old)
}

// ErrNotFound reports whether err says an object is missing.
func ErrNotFound(err error) bool { return errdefs.Is(err, errdefs.KindNotFound) }
