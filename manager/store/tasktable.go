package store

import (
	"strings"

	"github.com/google/btree"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// taskTable holds the tasks outside go-memdb, in three copy-on-write
// B-trees (by ID, by service, by node). Tasks are most of the store and
// most of its writes: a scheduling pass rewrites 100,000 of them. In
// go-memdb every task write inserts into three radix trees, and each radix
// node copied allocates a node, an edge list, a mutation channel and an LRU
// entry; that was three quarters of a 100,000-task pass and a third of its
// CPU went to collecting them. A B-tree node holds up to 63 tasks, a write
// copies the few nodes on its path once per transaction and changes them in
// place after that, and a snapshot is an O(1) clone.
//
// A taskTable is either a snapshot (never written: readers share it) or a
// transaction's own copy (written by one goroutine, then published as the
// next snapshot by clone). The store pairs it with the go-memdb snapshot of
// the same commit, so a reader sees one consistent state.
type taskTable struct {
	byID      *btree.BTreeG[idKey]
	byService *btree.BTreeG[groupKey]
	byNode    *btree.BTreeG[groupKey]
}

// idKey orders the tasks by ID; the ID is the task's own string.
type idKey struct {
	id   string
	task *api.Task
}

func lessID(a, b idKey) bool { return a.id < b.id }

// groupKey places a task in a group index (by service or by node): keys
// are ordered by a hash of the group ID, then by task ID, and the group ID
// itself only breaks a tie of both. The order between groups does not
// matter, only that a group's keys are together and in task ID order; the
// hash settles most comparisons between groups without reading a string
// (each a cache miss in a 100,000-task index), and within a group the
// group IDs, equal but often separate copies, are not compared at all. A
// group whose ID hashes alike shares the range, and a read filters it out.
// The service and node indexes hold keys, not tasks, so a write that keeps
// a task's service and node (a status report, a placement's service) leaves
// them alone.
type groupKey struct {
	hash  uint64
	group string
	id    string
}

func lessGroup(a, b groupKey) bool {
	if a.hash != b.hash {
		return a.hash < b.hash
	}
	if a.id != b.id {
		return a.id < b.id
	}
	return a.group < b.group
}

func groupOf(group, id string) groupKey {
	return groupKey{hash: fnv64(group), group: group, id: id}
}

// fnv64 is FNV-1a: cheap for short IDs, and the same in every process.
func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// taskDegree gives nodes of 31 to 63 keys: a write copies at most a few
// kilobytes per level, and a lookup in 100,000 tasks visits three levels.
const taskDegree = 32

func newTaskTable() *taskTable {
	return &taskTable{
		byID:      btree.NewG(taskDegree, lessID),
		byService: btree.NewG(taskDegree, lessGroup),
		byNode:    btree.NewG(taskDegree, lessGroup),
	}
}

// clone returns a copy sharing every node with t; whichever of the two is
// written copies the nodes it changes. Clone writes t's copy-on-write
// context, so only the writer (under the store's lock) clones, and never a
// published snapshot.
func (t *taskTable) clone() *taskTable {
	return &taskTable{byID: t.byID.Clone(), byService: t.byService.Clone(), byNode: t.byNode.Clone()}
}

func (t *taskTable) get(id string) *api.Task {
	k, ok := t.byID.Get(idKey{id: id})
	if !ok {
		return nil
	}
	return k.task
}

// put stores n, replacing old (the stored task with n's ID, nil if none):
// an index entry moves only when the task's service or node changed.
func (t *taskTable) put(n, old *api.Task) {
	id := n.GetId()
	t.byID.ReplaceOrInsert(idKey{id: id, task: n})
	move(t.byService, old.GetServiceId(), n.GetServiceId(), id)
	move(t.byNode, old.GetNodeId(), n.GetNodeId(), id)
}

// move moves id's entry in a group index from oldGroup to group ("": none).
func move(tr *btree.BTreeG[groupKey], oldGroup, group, id string) {
	if oldGroup == group {
		return
	}
	if oldGroup != "" {
		tr.Delete(groupOf(oldGroup, id))
	}
	if group != "" {
		tr.ReplaceOrInsert(groupOf(group, id))
	}
}

// remove deletes old (the stored task) from every index.
func (t *taskTable) remove(old *api.Task) {
	id := old.GetId()
	t.byID.Delete(idKey{id: id})
	move(t.byService, old.GetServiceId(), "", id)
	move(t.byNode, old.GetNodeId(), "", id)
}

func (t *taskTable) len() int { return t.byID.Len() }

// all returns every task in ID order.
func (t *taskTable) all() []*api.Task {
	if t.byID.Len() == 0 {
		return nil
	}
	out := make([]*api.Task, 0, t.byID.Len())
	t.byID.Ascend(func(k idKey) bool {
		out = append(out, k.task)
		return true
	})
	return out
}

// group returns the tasks of one service or node (an index of t), in ID
// order.
func (t *taskTable) group(tr *btree.BTreeG[groupKey], g string) []*api.Task {
	if g == "" {
		return nil
	}
	h := fnv64(g)
	var out []*api.Task
	tr.AscendGreaterOrEqual(groupKey{hash: h}, func(k groupKey) bool {
		if k.hash != h {
			return false
		}
		if k.group == g {
			out = append(out, t.get(k.id))
		}
		return true
	})
	return out
}

// withIDPrefix returns the tasks whose ID starts with prefix, in ID order.
func (t *taskTable) withIDPrefix(prefix string) []Object {
	var out []Object
	t.byID.AscendGreaterOrEqual(idKey{id: prefix}, func(k idKey) bool {
		if !strings.HasPrefix(k.id, prefix) {
			return false
		}
		out = append(out, k.task)
		return true
	})
	return out
}
