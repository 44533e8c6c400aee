package gossip

import (
	"slices"
	"time"
)

// EventType says what happened to an entry.
type EventType uint8

const (
	EventCreate EventType = iota + 1
	EventUpdate
	EventDelete
)

func (t EventType) String() string {
	switch t {
	case EventCreate:
		return "create"
	case EventUpdate:
		return "update"
	case EventDelete:
		return "delete"
	}
	return "unknown"
}

// Event is a change to the table as this node sees it. For EventDelete,
// Value is the last value the entry had.
type Event struct {
	Type    EventType
	Network string
	Key     string
	Value   []byte
	Owner   string
}

// Entry is one key of one network's table.
type Entry struct {
	Network string
	Key     string
	Value   []byte
	Owner   string // the node that wrote it last
	LTime   uint64 // lamport time of that write
}

type entry struct {
	value   []byte
	owner   string
	ltime   uint64
	deleted bool
	reapAt  time.Time // for tombstones
}

type member struct {
	ltime   uint64
	leaving bool
}

// table is the endpoint table's state machine: what it holds and how a
// message changes it. It does no I/O and takes no locks; each call returns
// the events for subscribers and the messages to broadcast, and the DB
// applies them.
type table struct {
	self      string
	clock     uint64
	reapAfter time.Duration

	nets    map[string]map[string]*entry // networks this node joined -> key -> entry
	members map[string]map[string]member // node -> network -> latest membership news
	dead    map[string]bool              // nodes memberlist declared gone, until they return
}

// out collects what a table operation wants done.
type out struct {
	events     []Event
	broadcasts [][]byte
}

func (o *out) event(t EventType, network, key string, e *entry) {
	o.events = append(o.events, Event{Type: t, Network: network, Key: key, Value: e.value, Owner: e.owner})
}

func newTable(self string, reapAfter time.Duration) *table {
	return &table{
		self:      self,
		reapAfter: reapAfter,
		nets:      make(map[string]map[string]*entry),
		members:   make(map[string]map[string]member),
		dead:      make(map[string]bool),
	}
}

func (t *table) tick() uint64 {
	t.clock++
	return t.clock
}

func (t *table) witness(ltime uint64) {
	if ltime > t.clock {
		t.clock = ltime
	}
}

// joinNetwork starts keeping network's entries.
func (t *table) joinNetwork(network string) (o out) {
	if _, ok := t.nets[network]; ok {
		return o
	}
	t.nets[network] = make(map[string]*entry)
	m := memberMsg{Node: t.self, Network: network, LTime: t.tick()}
	t.setMember(m)
	o.broadcasts = append(o.broadcasts, encodeMember(&m))
	return o
}

// leaveNetwork drops network's entries here (with delete events), and tells
// the others to drop this node's entries on it.
func (t *table) leaveNetwork(network string) (o out) {
	es, ok := t.nets[network]
	if !ok {
		return o
	}
	for _, k := range sortedKeys(es) {
		if e := es[k]; !e.deleted {
			o.event(EventDelete, network, k, e)
		}
	}
	delete(t.nets, network)
	m := memberMsg{Node: t.self, Network: network, LTime: t.tick(), Leaving: true}
	t.setMember(m)
	o.broadcasts = append(o.broadcasts, encodeMember(&m))
	return o
}

func (t *table) setMember(m memberMsg) {
	byNet := t.members[m.Node]
	if byNet == nil {
		byNet = make(map[string]member)
		t.members[m.Node] = byNet
	}
	byNet[m.Network] = member{ltime: m.LTime, leaving: m.Leaving}
}

// write sets (or, value nil and del, deletes) a local entry.
func (t *table) write(network, key string, value []byte, del bool, now time.Time) (o out) {
	es := t.nets[network]
	old := es[key]
	e := &entry{value: value, owner: t.self, ltime: t.tick(), deleted: del}
	switch {
	case del:
		e.value = old.value
		e.reapAt = now.Add(t.reapAfter)
		o.event(EventDelete, network, key, e)
	case old == nil || old.deleted:
		o.event(EventCreate, network, key, e)
	default:
		o.event(EventUpdate, network, key, e)
	}
	es[key] = e
	m := entryMsg{Network: network, Key: key, Owner: t.self, LTime: e.ltime, Deleted: del}
	if !del {
		m.Value = value
	}
	o.broadcasts = append(o.broadcasts, encodeEntry(&m))
	return o
}

// newer reports whether a write (ltime, owner) beats e: last writer by
// lamport time wins, ties broken by owner name so every node agrees.
func newer(ltime uint64, owner string, e *entry) bool {
	if ltime != e.ltime {
		return ltime > e.ltime
	}
	return owner > e.owner
}

// mergeEntry applies an entry heard from another node. It reports whether
// the entry changed this table, so the caller passes news on and stops
// repeating old news.
func (t *table) mergeEntry(m *entryMsg, now time.Time) (o out, changed bool) {
	t.witness(m.LTime)
	es, ok := t.nets[m.Network]
	if !ok {
		return o, false // not on this network: neither kept nor served
	}
	if t.dead[m.Owner] {
		return o, false // late news from a node already declared gone
	}
	if mb, ok := t.members[m.Owner][m.Network]; ok && mb.leaving && mb.ltime > m.LTime {
		return o, false // written before its owner left the network
	}
	old := es[m.Key]
	if m.Owner == t.self {
		// This node is the authority on its own entries. News of one that
		// is newer than what it holds can only be from an earlier life of
		// this node (a restart resets the clock): restate the truth with a
		// fresh time so it wins everywhere.
		if old != nil && !newer(m.LTime, m.Owner, old) {
			return o, false
		}
		switch {
		case old != nil && !old.deleted:
			old.ltime = t.tick()
			b := entryMsg{Network: m.Network, Key: m.Key, Owner: t.self, LTime: old.ltime, Value: old.value}
			o.broadcasts = append(o.broadcasts, encodeEntry(&b))
		case !m.Deleted:
			e := &entry{owner: t.self, ltime: t.tick(), deleted: true, reapAt: now.Add(t.reapAfter)}
			es[m.Key] = e
			b := entryMsg{Network: m.Network, Key: m.Key, Owner: t.self, LTime: e.ltime, Deleted: true}
			o.broadcasts = append(o.broadcasts, encodeEntry(&b))
		}
		return o, false
	}
	if old != nil && !newer(m.LTime, m.Owner, old) {
		return o, false
	}
	e := &entry{value: m.Value, owner: m.Owner, ltime: m.LTime, deleted: m.Deleted}
	switch {
	case m.Deleted:
		e.reapAt = now.Add(t.reapAfter)
		if old != nil && !old.deleted {
			e.value = old.value
			o.event(EventDelete, m.Network, m.Key, e)
		}
		e.value = nil
	case old == nil || old.deleted:
		o.event(EventCreate, m.Network, m.Key, e)
	default:
		o.event(EventUpdate, m.Network, m.Key, e)
	}
	es[m.Key] = e
	return o, true
}

// mergeMember applies network membership news. A node leaving a network
// takes its entries there with it.
func (t *table) mergeMember(m *memberMsg) (o out, changed bool) {
	t.witness(m.LTime)
	if m.Node == t.self || t.dead[m.Node] {
		return o, false
	}
	if cur, ok := t.members[m.Node][m.Network]; ok && cur.ltime >= m.LTime {
		return o, false
	}
	t.setMember(*m)
	if m.Leaving {
		o = t.dropOwner(m.Node, m.Network)
	}
	return o, true
}

// dropOwner removes node's entries on network ("" for every network), with
// delete events and without tombstones: every node does the same on the
// same news, and the owner re-announces them should it come back.
func (t *table) dropOwner(node, network string) (o out) {
	for _, n := range sortedKeys(t.nets) {
		if network != "" && n != network {
			continue
		}
		es := t.nets[n]
		for _, k := range sortedKeys(es) {
			e := es[k]
			if e.owner != node {
				continue
			}
			if !e.deleted {
				o.event(EventDelete, n, k, e)
			}
			delete(es, k)
		}
	}
	return o
}

// nodeGone handles memberlist declaring node dead or left.
func (t *table) nodeGone(node string) out {
	if node == t.self {
		return out{}
	}
	t.dead[node] = true
	delete(t.members, node)
	return t.dropOwner(node, "")
}

// nodeBack handles memberlist seeing node alive; it reports whether node had
// been declared gone (its entries then need a full sync).
func (t *table) nodeBack(node string) bool {
	was := t.dead[node]
	delete(t.dead, node)
	return was
}

// state is this node's side of a push/pull: its clock, all membership news
// and every entry (tombstones included) of the networks it is on.
func (t *table) state() *stateMsg {
	s := &stateMsg{Clock: t.clock}
	for _, node := range sortedKeys(t.members) {
		for _, n := range sortedKeys(t.members[node]) {
			mb := t.members[node][n]
			s.Members = append(s.Members, memberMsg{Node: node, Network: n, LTime: mb.ltime, Leaving: mb.leaving})
		}
	}
	for _, n := range sortedKeys(t.nets) {
		es := t.nets[n]
		for _, k := range sortedKeys(es) {
			e := es[k]
			m := entryMsg{Network: n, Key: k, Owner: e.owner, LTime: e.ltime, Deleted: e.deleted}
			if !e.deleted {
				m.Value = e.value
			}
			s.Entries = append(s.Entries, m)
		}
	}
	return s
}

// mergeState applies a remote push/pull state. Memberships go first, so an
// entry of a node that left a network is refused.
func (t *table) mergeState(s *stateMsg, now time.Time) (o out) {
	t.witness(s.Clock)
	for i := range s.Members {
		mo, _ := t.mergeMember(&s.Members[i])
		o.events = append(o.events, mo.events...)
	}
	for i := range s.Entries {
		eo, _ := t.mergeEntry(&s.Entries[i], now)
		o.events = append(o.events, eo.events...)
		o.broadcasts = append(o.broadcasts, eo.broadcasts...)
	}
	return o
}

// reap forgets tombstones whose time is up.
func (t *table) reap(now time.Time) (n int) {
	for _, es := range t.nets {
		for k, e := range es {
			if e.deleted && !now.Before(e.reapAt) {
				delete(es, k)
				n++
			}
		}
	}
	return n
}

// peersOn lists the nodes known to be on network.
func (t *table) peersOn(network string) []string {
	var out []string
	for _, node := range sortedKeys(t.members) {
		if mb, ok := t.members[node][network]; ok && !mb.leaving && node != t.self {
			out = append(out, node)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
