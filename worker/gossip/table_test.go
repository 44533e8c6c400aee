package gossip

import (
	"bytes"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// pair makes two tables on net1 that have heard of each other's membership.
func pair() (a, b *table) {
	a, b = newTable("a", time.Minute), newTable("b", time.Minute)
	deliver(a.joinNetwork("net1"), b)
	deliver(b.joinNetwork("net1"), a)
	return a, b
}

// deliver hands o's broadcasts to each table, as gossip would.
func deliver(o out, to ...*table) {
	for _, b := range o.broadcasts {
		m, err := decode(b)
		if err != nil {
			panic(err)
		}
		for _, t := range to {
			switch {
			case m.entry != nil:
				t.mergeEntry(m.entry, t0)
			case m.member != nil:
				t.mergeMember(m.member)
			}
		}
	}
}

func value(t *table, network, key string) (string, bool) {
	e := t.nets[network][key]
	if e == nil || e.deleted {
		return "", false
	}
	return string(e.value), true
}

func TestTableLastWriterWinsByLamportTime(t *testing.T) {
	a, b := pair()
	create := a.write("net1", "k", []byte("from a"), false, t0)
	deliver(create, b)
	// b updates after seeing a's create: its clock is ahead, so it wins
	// everywhere, even when a hears the update before... nothing else.
	update := b.write("net1", "k", []byte("from b"), false, t0)
	deliver(update, a)
	for _, tb := range []*table{a, b} {
		if v, _ := value(tb, "net1", "k"); v != "from b" {
			t.Fatalf("%s holds %q, want the later write", tb.self, v)
		}
	}
	// The stale create arriving again changes nothing.
	deliver(create, a, b)
	if v, _ := value(a, "net1", "k"); v != "from b" {
		t.Fatalf("stale create won: %q", v)
	}
}

func TestTableConcurrentWritesAgree(t *testing.T) {
	a, b := pair()
	wa := a.write("net1", "k", []byte("a"), false, t0)
	wb := b.write("net1", "k", []byte("b"), false, t0) // same lamport time
	deliver(wa, b)
	deliver(wb, a)
	va, _ := value(a, "net1", "k")
	vb, _ := value(b, "net1", "k")
	if va != vb || va != "b" {
		t.Fatalf("a holds %q, b holds %q: want both the tie-break winner %q", va, vb, "b")
	}
}

func TestTableTombstoneRefusesOlderCreateUntilReaped(t *testing.T) {
	a, b := pair()
	create := a.write("net1", "k", []byte("v"), false, t0)
	deliver(create, b)
	del := a.write("net1", "k", nil, true, t0)
	o := out{}
	for _, bc := range del.broadcasts {
		m, _ := decode(bc)
		o, _ = b.mergeEntry(m.entry, t0)
	}
	if len(o.events) != 1 || o.events[0].Type != EventDelete || string(o.events[0].Value) != "v" {
		t.Fatalf("delete events %+v", o.events)
	}
	deliver(create, b)
	if _, ok := value(b, "net1", "k"); ok {
		t.Fatal("older create resurrected a deleted entry")
	}
	if n := b.reap(t0.Add(30 * time.Second)); n != 0 {
		t.Fatalf("reaped %d tombstones before their time", n)
	}
	if n := b.reap(t0.Add(time.Minute)); n != 1 {
		t.Fatalf("reaped %d tombstones, want 1", n)
	}
}

func TestTableOwnerRestatesItsEntries(t *testing.T) {
	// a restarted: its clock is back near zero while b still holds a's old
	// entry with a high time. a must not take it back as its own.
	a, b := pair()
	for range 10 {
		a.tick()
	}
	deliver(a.write("net1", "old", []byte("v"), false, t0), b)
	a2 := newTable("a", time.Minute)
	a2.joinNetwork("net1")
	o := a2.mergeState(b.state(), t0)
	if _, ok := value(a2, "net1", "old"); ok {
		t.Fatal("restarted node adopted its previous life's entry")
	}
	deliver(o, b)
	if _, ok := value(b, "net1", "old"); ok {
		t.Fatal("the restarted owner's tombstone did not win on b")
	}
}

func TestTableDeadNodeEntriesGoAndStayGone(t *testing.T) {
	a, b := pair()
	deliver(a.write("net1", "ka", []byte("1"), false, t0), b)
	deliver(b.write("net1", "kb", []byte("2"), false, t0), a)
	stale := a.state()
	o := b.nodeGone("a")
	if len(o.events) != 1 || o.events[0].Key != "ka" || o.events[0].Type != EventDelete {
		t.Fatalf("events %+v", o.events)
	}
	// Another node that has not noticed yet pushes a's entries back.
	b.mergeState(stale, t0)
	if _, ok := value(b, "net1", "ka"); ok {
		t.Fatal("a dead node's entry came back through push/pull")
	}
	if v, _ := value(b, "net1", "kb"); v != "2" {
		t.Fatal("b lost its own entry")
	}
	// a comes back: its entries are welcome again.
	if !b.nodeBack("a") {
		t.Fatal("nodeBack did not report a return")
	}
	b.mergeState(a.state(), t0)
	if v, _ := value(b, "net1", "ka"); v != "1" {
		t.Fatal("a returned node's entry was refused")
	}
}

func TestTableOnlyJoinedNetworksAreKept(t *testing.T) {
	a, b := pair()
	deliver(a.joinNetwork("net2"), b)
	deliver(a.write("net2", "k", []byte("v"), false, t0), b)
	if _, ok := b.nets["net2"]; ok {
		t.Fatal("b keeps a network it did not join")
	}
	if peers := b.peersOn("net2"); len(peers) != 1 || peers[0] != "a" {
		t.Fatalf("b's view of net2 members: %v", peers)
	}
	// b joins later and gets net2 by push/pull.
	b.joinNetwork("net2")
	b.mergeState(a.state(), t0)
	if v, _ := value(b, "net2", "k"); v != "v" {
		t.Fatal("late joiner did not get the entry")
	}
	// a leaves net2: b drops a's entries there.
	o := a.leaveNetwork("net2")
	if len(o.events) != 1 || o.events[0].Type != EventDelete {
		t.Fatalf("leave events on a: %+v", o.events)
	}
	deliver(o, b)
	if _, ok := value(b, "net2", "k"); ok {
		t.Fatal("b kept the entry of a node that left the network")
	}
	// A stale broadcast of the entry, from before the leave, is refused.
	deliver(out{broadcasts: [][]byte{encodeEntry(&entryMsg{Network: "net2", Key: "k", Owner: "a", LTime: 3, Value: []byte("v")})}}, b)
	if _, ok := value(b, "net2", "k"); ok {
		t.Fatal("entry written before its owner left came back")
	}
}

func TestWireRoundTrip(t *testing.T) {
	s := &stateMsg{
		Clock:   42,
		Members: []memberMsg{{Node: "n1", Network: "net", LTime: 3}, {Node: "n2", Network: "net", LTime: 9, Leaving: true}},
		Entries: []entryMsg{{Network: "net", Key: "k", Owner: "n1", LTime: 7, Value: []byte("v")}, {Network: "net", Key: "gone", Owner: "n2", LTime: 8, Deleted: true}},
	}
	d, err := decode(encodeState(s))
	if err != nil {
		t.Fatal(err)
	}
	if d.state.Clock != 42 || len(d.state.Members) != 2 || len(d.state.Entries) != 2 ||
		!d.state.Members[1].Leaving || !d.state.Entries[1].Deleted || !bytes.Equal(d.state.Entries[0].Value, []byte("v")) {
		t.Fatalf("round trip: %+v", d.state)
	}
	for _, bad := range [][]byte{nil, {1}, {2, 1}, {1, 9}, {1, 1, 0x80}, append(encodeEntry(&entryMsg{Network: "n", Key: "k", Owner: "o", LTime: 1}), 0),
		{1, 3, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}} {
		if _, err := decode(bad); err == nil {
			t.Errorf("decode(%x) accepted", bad)
		}
	}
}

// FuzzDecode: no input makes the decoder panic, and whatever decodes
// re-encodes to the same bytes (the format has one spelling per message).
func FuzzDecode(f *testing.F) {
	f.Add(encodeEntry(&entryMsg{Network: "net", Key: "k", Owner: "n1", LTime: 7, Value: []byte("v")}))
	f.Add(encodeEntry(&entryMsg{Network: "net", Key: "k", Owner: "n1", LTime: 8, Deleted: true}))
	f.Add(encodeMember(&memberMsg{Node: "n1", Network: "net", LTime: 1}))
	f.Add(encodeState(&stateMsg{Clock: 3, Members: []memberMsg{{Node: "n", Network: "x", LTime: 1}},
		Entries: []entryMsg{{Network: "x", Key: "k", Owner: "n", LTime: 2, Value: []byte(`{"ip":"10.0.1.3"}`)}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decode(b)
		if err != nil {
			return
		}
		var re []byte
		switch {
		case d.entry != nil:
			re = encodeEntry(d.entry)
		case d.member != nil:
			re = encodeMember(d.member)
		case d.state != nil:
			re = encodeState(d.state)
		}
		if !bytes.Equal(re, b) {
			t.Fatalf("decode/encode changed %x into %x", b, re)
		}
		// And applying it to a table must not panic either.
		tb := newTable("self", time.Minute)
		tb.joinNetwork("net")
		tb.joinNetwork("x")
		switch {
		case d.entry != nil:
			tb.mergeEntry(d.entry, t0)
		case d.member != nil:
			tb.mergeMember(d.member)
		case d.state != nil:
			tb.mergeState(d.state, t0)
		}
	})
}

func TestConfigValidation(t *testing.T) {
	good := DefaultConfig("n")
	if err := good.validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for name, mut := range map[string]func(*Config){
		"no name":                     func(c *Config) { c.NodeName = "" },
		"probe timeout over interval": func(c *Config) { c.ProbeTimeout = c.ProbeInterval },
		"tombstones reaped too soon":  func(c *Config) { c.ReapAfter = c.PushPullInterval },
		"key of 5 bytes":              func(c *Config) { c.Keyring = [][]byte{[]byte("short")} },
		"port out of range":           func(c *Config) { c.BindPort = 70000 },
	} {
		c := DefaultConfig("n")
		mut(&c)
		if err := c.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
