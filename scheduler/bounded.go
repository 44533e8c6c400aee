package scheduler

import (
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// limitGroup reads what bounds a group's spread from its first task:
// reservations, --replicas-max-per-node and placement preferences.
func (s *Scheduler) limitGroup(g *group, t *minswv1.Task) {
	g.res = reservationOf(t)
	if g.res.any() {
		s.needFree = true
	}
	p := t.GetSpec().GetPlacement()
	g.platforms = p.GetPlatforms()
	g.maxPerNode = int32(min(p.GetMaxReplicas(), 1<<30))
	if len(p.GetPreferences()) > 0 {
		prefs, err := ParsePreferences(p.GetPreferences())
		if err != nil && g.err == nil {
			g.err = err
		}
		g.prefs = prefs
	}
}

// bounded reports whether a group needs the general spread: a node may
// leave it (host ports, reservations, a per-node maximum) or tasks spread
// over preference values first.
func (g *group) bounded() bool {
	return len(g.prefs) > 0 || g.res.any() || g.maxPerNode > 0
}

// boundedSpread is the scratch of spreadBounded: one spread heap per leaf
// of the preference tree (one leaf without preferences), and the tree.
type boundedSpread struct {
	heaps  []spreadHeap
	tree   []prefNode
	index  map[prefKey]int32
	leafOf []int32 // per eligible node (by position): its leaf
	ranks  [][]int32
}

// prefNode is one value of one preference under its parent's value; a
// leaf holds a heap. count is the service's tasks in its subtree, so the
// spread fills the emptiest value first, as swarmkit's preferences do.
type prefNode struct {
	count    int32
	live     bool
	children []int32
	heap     int32 // leaf: its heap; -1 otherwise
	parent   int32
}

type prefKey struct {
	parent int32
	value  string
}

// build lays out the eligible nodes of g into the tree.
func (b *boundedSpread) build(s *Scheduler, g *group) {
	b.tree = append(b.tree[:0], prefNode{heap: -1, parent: -1, children: b.children(0)})
	if b.index == nil {
		b.index = map[prefKey]int32{}
	}
	clear(b.index)
	b.ranks = b.ranks[:0]
	for _, r := range s.eligible {
		cur := int32(0)
		for _, p := range g.prefs {
			k := prefKey{cur, p.value(s.byRank[r])}
			next, ok := b.index[k]
			if !ok {
				next = int32(len(b.tree))
				b.tree = append(b.tree, prefNode{heap: -1, parent: cur, children: b.children(int(next))})
				b.tree[cur].children = append(b.tree[cur].children, next)
				b.index[k] = next
			}
			cur = next
		}
		if b.tree[cur].heap < 0 {
			b.tree[cur].heap = int32(len(b.ranks))
			b.ranks = append(b.ranks, b.rankBuf(len(b.ranks)))
		}
		h := b.tree[cur].heap
		b.ranks[h] = append(b.ranks[h], r)
		for n := cur; n >= 0; n = b.tree[n].parent {
			b.tree[n].count += s.svc[r]
		}
	}
	if cap(b.heaps) < len(b.ranks) {
		b.heaps = append(b.heaps[:cap(b.heaps)], make([]spreadHeap, len(b.ranks)-cap(b.heaps))...)
	}
	b.heaps = b.heaps[:len(b.ranks)]
	for i := range b.ranks {
		b.heaps[i].fill(b.ranks[i], s.svc, s.total)
	}
	for n := len(b.tree) - 1; n >= 0; n-- {
		b.tree[n].live = b.tree[n].heap >= 0 && !b.heaps[b.tree[n].heap].empty()
		for _, c := range b.tree[n].children {
			b.tree[n].live = b.tree[n].live || b.tree[c].live
		}
	}
}

// children reuses the children slice a tree node had in an earlier build.
func (b *boundedSpread) children(n int) []int32 {
	if n < cap(b.tree) {
		return b.tree[:cap(b.tree)][n].children[:0]
	}
	return nil
}

func (b *boundedSpread) rankBuf(i int) []int32 {
	if i < cap(b.ranks) {
		return b.ranks[:cap(b.ranks)][i][:0]
	}
	return nil
}

// pick walks from the root to the live value with the fewest tasks at each
// level and returns its leaf, or -1 when no node is left.
func (b *boundedSpread) pick() int32 {
	n := int32(0)
	if !b.tree[0].live {
		return -1
	}
	for b.tree[n].heap < 0 || len(b.tree[n].children) > 0 {
		best := int32(-1)
		for _, c := range b.tree[n].children {
			if b.tree[c].live && (best < 0 || b.tree[c].count < b.tree[best].count) {
				best = c
			}
		}
		if best < 0 {
			break
		}
		n = best
	}
	return n
}

// placed counts a task in leaf n and updates liveness up the tree.
func (b *boundedSpread) placed(n int32) {
	dead := b.heaps[b.tree[n].heap].empty()
	for ; n >= 0; n = b.tree[n].parent {
		b.tree[n].count++
		if dead {
			b.tree[n].live = false
			for _, c := range b.tree[n].children {
				if b.tree[c].live {
					dead = false
					b.tree[n].live = true
					break
				}
			}
		}
	}
}

// spreadBounded places a group whose nodes may fill up (reservations, a
// per-node maximum, host ports) or whose tasks spread over preference
// values first. A node that cannot take another task of the group leaves
// its heap as it takes one; the reason it left is counted against the
// filter that would now refuse it, so tasks left over when no node remains
// get swarmkit's explanation.
func (s *Scheduler) spreadBounded(g *group, tasks []int32, out []Decision) {
	b := &s.bounded
	b.build(s, g)
	var leftRes, leftMax, leftPort int
	for k, i := range tasks {
		leaf := b.pick()
		if leaf < 0 {
			if s.pipe.resIdx >= 0 {
				s.pipe.failures[s.pipe.resIdx] += leftRes
			}
			if s.pipe.maxIdx >= 0 {
				s.pipe.failures[s.pipe.maxIdx] += leftMax
			}
			if s.pipe.portIdx >= 0 {
				s.pipe.failures[s.pipe.portIdx] += leftPort
			}
			refuse(tasks[k:], s.pipe.explain(), out)
			break
		}
		h := &b.heaps[b.tree[leaf].heap]
		r := h.entries[0].rank
		svcCount, _ := h.entries[0].counts()
		if g.res.any() {
			s.free.take(r, g.res)
		}
		switch {
		case len(g.ports) > 0:
			h.takeOnce()
			leftPort++
		case g.maxPerNode > 0 && svcCount+1 >= g.maxPerNode:
			h.takeOnce()
			leftMax++
		case g.res.any() && !s.free.fits(r, g.res):
			h.takeOnce()
			leftRes++
		default:
			h.take()
		}
		id := s.byRank[r].GetId()
		out[i].NodeID = id
		s.hostPorts.hold(id, g.ports)
		b.placed(leaf)
	}
	for i := range b.heaps {
		b.heaps[i].flush(s.svc, s.total)
	}
}
