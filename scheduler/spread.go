package scheduler

// spreadHeap orders a group's eligible nodes by Swarm's spread rule: fewest
// tasks of the service, then fewest tasks overall, then smallest node ID. It
// holds node ranks (a node's index once nodes are sorted by ID), so the ID
// tie-break is an integer compare and the heap is a flat []int32.
//
// Only the root ever changes (it takes a task, its counts go up), so placing
// a task is one sift-down: a batch of T tasks on N nodes costs O(N + T log N)
// instead of scanning every node for every task.
type spreadHeap struct {
	ranks []int32
	// svc and total are indexed by rank and shared with the caller, which
	// keeps them across groups; svc holds counts for the current service.
	svc, total []int32
}

func (h *spreadHeap) less(a, b int32) bool {
	if h.svc[a] != h.svc[b] {
		return h.svc[a] < h.svc[b]
	}
	if h.total[a] != h.total[b] {
		return h.total[a] < h.total[b]
	}
	return a < b
}

// init makes a heap of h.ranks in O(len(ranks)).
func (h *spreadHeap) init() {
	for i := len(h.ranks)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

// take returns the best node for the next task and counts the task on it.
// The heap must not be empty.
func (h *spreadHeap) take() int32 {
	r := h.ranks[0]
	h.svc[r]++
	h.total[r]++
	h.down(0)
	return r
}

func (h *spreadHeap) down(i int) {
	n := len(h.ranks)
	x := h.ranks[i]
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && h.less(h.ranks[c+1], h.ranks[c]) {
			c++
		}
		if !h.less(h.ranks[c], x) {
			break
		}
		h.ranks[i] = h.ranks[c]
		i = c
	}
	h.ranks[i] = x
}
