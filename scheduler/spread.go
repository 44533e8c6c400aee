package scheduler

// spreadHeap orders a group's eligible nodes by Swarm's spread rule: fewest
// tasks of the service, then fewest tasks overall, then smallest node ID.
//
// Only the root ever changes (it takes a task, its counts go up), so placing
// a task is one sift-down: a batch of T tasks on N nodes costs O(N + T log N)
// instead of scanning every node for every task.
//
// Each entry carries its own counts packed in one word (service count in the
// high half, total in the low half) and the node's rank (its index once nodes
// are sorted by ID), so a comparison is two integer compares on the entry
// itself, with no lookup elsewhere; that halves the time of a large batch.
//
// A node that may take only one task of the group (it now holds the group's
// host-mode port) leaves the heap as it takes it, as in heapsort: it swaps
// with the last live entry, which sifts down, so that is O(log N) too, and
// its entry stays behind the live ones for flush.
type spreadHeap struct {
	entries []spreadEntry
	live    int // entries[:live] is the heap; the rest left it by takeOnce
}

type spreadEntry struct {
	key  uint64 // svc<<32 | total
	rank int32
}

// oneMore is what a placed task adds to an entry's key: one task of the
// service and one task overall.
const oneMore = 1<<32 | 1

func packCounts(svc, total int32) uint64 { return uint64(uint32(svc))<<32 | uint64(uint32(total)) }

func (e spreadEntry) counts() (svc, total int32) { return int32(e.key >> 32), int32(uint32(e.key)) }

func (a spreadEntry) less(b spreadEntry) bool {
	return a.key < b.key || a.key == b.key && a.rank < b.rank
}

// fill makes the heap hold ranks, reading their counts from svc and total
// (indexed by rank), in O(len(ranks)).
func (h *spreadHeap) fill(ranks, svc, total []int32) {
	h.entries = h.entries[:0]
	for _, r := range ranks {
		h.entries = append(h.entries, spreadEntry{packCounts(svc[r], total[r]), r})
	}
	h.live = len(h.entries)
	for i := h.live/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

// empty reports whether every node has left the heap.
func (h *spreadHeap) empty() bool { return h.live == 0 }

// take returns the best node's rank for the next task and counts the task on
// it. The heap must not be empty.
func (h *spreadHeap) take() int32 {
	h.entries[0].key += oneMore
	r := h.entries[0].rank
	h.down(0)
	return r
}

// takeOnce is take for a node that may not take another task of the group:
// the node leaves the heap. The heap must not be empty.
func (h *spreadHeap) takeOnce() int32 {
	h.live--
	es := h.entries
	es[0].key += oneMore
	r := es[0].rank
	es[0], es[h.live] = es[h.live], es[0]
	h.down(0)
	return r
}

// flush writes the counts back to svc and total, for the next group; nodes
// that left the heap included.
func (h *spreadHeap) flush(svc, total []int32) {
	for _, e := range h.entries {
		svc[e.rank], total[e.rank] = e.counts()
	}
}

func (h *spreadHeap) down(i int) {
	es := h.entries
	n := h.live
	x := es[i]
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && es[c+1].less(es[c]) {
			c++
		}
		if !es[c].less(x) {
			break
		}
		es[i] = es[c]
		i = c
	}
	es[i] = x
}
