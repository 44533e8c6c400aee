package gossip

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The wire format is hand-written rather than gob or JSON: every gossip
// packet from the network goes through decode, so it must be cheap, bounded
// (no reflection, no allocation driven by a claimed length that the packet
// does not hold) and small enough that a table event fits one UDP gossip
// packet. Layout: version byte, kind byte, then the kind's fields; integers
// are uvarints, strings and byte slices are uvarint-length-prefixed.
const wireVersion = 1

type msgKind uint8

const (
	kindEntry  msgKind = 1 // one table entry (create, update or tombstone)
	kindMember msgKind = 2 // a node joined or left a network
	kindState  msgKind = 3 // full state for push/pull
)

const (
	maxNameLen = 255      // network IDs, keys, node names
	maxValue   = 1 << 10  // a value must fit one gossip packet with room to spare
	maxState   = 64 << 20 // a push/pull state larger than this is refused
)

// entryMsg is an entry as it travels.
type entryMsg struct {
	Network string
	Key     string
	Owner   string
	LTime   uint64
	Deleted bool
	Value   []byte
}

// memberMsg says that Node is (or, Leaving, is no longer) on Network.
type memberMsg struct {
	Node    string
	Network string
	LTime   uint64
	Leaving bool
}

// stateMsg is what one node sends another in a push/pull.
type stateMsg struct {
	Clock   uint64
	Members []memberMsg
	Entries []entryMsg
}

var errMalformed = errors.New("gossip: malformed message")

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func appendBytes(b []byte, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func (m *entryMsg) appendBody(b []byte) []byte {
	b = appendUvarint(b, m.LTime)
	b = appendBool(b, m.Deleted)
	b = appendString(b, m.Network)
	b = appendString(b, m.Key)
	b = appendString(b, m.Owner)
	return appendBytes(b, m.Value)
}

func (m *memberMsg) appendBody(b []byte) []byte {
	b = appendUvarint(b, m.LTime)
	b = appendBool(b, m.Leaving)
	b = appendString(b, m.Node)
	return appendString(b, m.Network)
}

func encodeEntry(m *entryMsg) []byte {
	return m.appendBody([]byte{wireVersion, byte(kindEntry)})
}

func encodeMember(m *memberMsg) []byte {
	return m.appendBody([]byte{wireVersion, byte(kindMember)})
}

func encodeState(s *stateMsg) []byte {
	b := []byte{wireVersion, byte(kindState)}
	b = appendUvarint(b, s.Clock)
	b = appendUvarint(b, uint64(len(s.Members)))
	for i := range s.Members {
		b = s.Members[i].appendBody(b)
	}
	b = appendUvarint(b, uint64(len(s.Entries)))
	for i := range s.Entries {
		b = s.Entries[i].appendBody(b)
	}
	return b
}

// reader consumes a message; the first error sticks and later reads return
// zero values, so decoders check once at the end.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", errMalformed, what)
	}
}

func (r *reader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	// n > 1 with a zero last byte is an overlong spelling: refused, so
	// every message has exactly one encoding.
	if n <= 0 || (n > 1 && r.b[n-1] == 0) {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bool(what string) bool {
	if r.err != nil {
		return false
	}
	if len(r.b) < 1 || r.b[0] > 1 {
		r.fail(what)
		return false
	}
	v := r.b[0] == 1
	r.b = r.b[1:]
	return v
}

func (r *reader) bytes(what string, max int) []byte {
	n := r.uvarint(what)
	if r.err != nil {
		return nil
	}
	if n > uint64(max) || n > uint64(len(r.b)) {
		r.fail(what)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) string(what string) string {
	return string(r.bytes(what, maxNameLen))
}

func (r *reader) entryBody() entryMsg {
	var m entryMsg
	m.LTime = r.uvarint("entry ltime")
	m.Deleted = r.bool("entry deleted flag")
	m.Network = r.string("entry network")
	m.Key = r.string("entry key")
	m.Owner = r.string("entry owner")
	if v := r.bytes("entry value", maxValue); len(v) > 0 {
		m.Value = append([]byte(nil), v...) // the packet buffer is reused
	}
	if r.err == nil && (m.Network == "" || m.Key == "" || m.Owner == "" || m.LTime == 0) {
		r.fail("entry without network, key, owner or time")
	}
	return m
}

func (r *reader) memberBody() memberMsg {
	var m memberMsg
	m.LTime = r.uvarint("member ltime")
	m.Leaving = r.bool("member leaving flag")
	m.Node = r.string("member node")
	m.Network = r.string("member network")
	if r.err == nil && (m.Node == "" || m.Network == "" || m.LTime == 0) {
		r.fail("member without node, network or time")
	}
	return m
}

// decoded is one message of any kind; exactly one of its fields is set.
type decoded struct {
	entry  *entryMsg
	member *memberMsg
	state  *stateMsg
}

// decode parses one message. It never panics on any input; everything that
// is not exactly a message of a known kind is an error wrapping errMalformed.
func decode(b []byte) (decoded, error) {
	if len(b) < 2 {
		return decoded{}, fmt.Errorf("%w: %d bytes", errMalformed, len(b))
	}
	if b[0] != wireVersion {
		return decoded{}, fmt.Errorf("%w: version %d", errMalformed, b[0])
	}
	if len(b) > maxState {
		return decoded{}, fmt.Errorf("%w: %d bytes", errMalformed, len(b))
	}
	r := &reader{b: b[2:]}
	var d decoded
	switch msgKind(b[1]) {
	case kindEntry:
		m := r.entryBody()
		d.entry = &m
	case kindMember:
		m := r.memberBody()
		d.member = &m
	case kindState:
		s := &stateMsg{Clock: r.uvarint("state clock")}
		// Each member takes at least 5 bytes and each entry 6: a count
		// larger than the bytes left could hold is a lie, refused before
		// allocating for it.
		n := r.uvarint("state member count")
		if r.err == nil && n > uint64(len(r.b))/5 {
			r.fail("state member count")
		}
		for i := uint64(0); i < n && r.err == nil; i++ {
			s.Members = append(s.Members, r.memberBody())
		}
		n = r.uvarint("state entry count")
		if r.err == nil && n > uint64(len(r.b))/6 {
			r.fail("state entry count")
		}
		for i := uint64(0); i < n && r.err == nil; i++ {
			s.Entries = append(s.Entries, r.entryBody())
		}
		d.state = s
	default:
		return decoded{}, fmt.Errorf("%w: kind %d", errMalformed, b[1])
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	if r.err != nil {
		return decoded{}, r.err
	}
	return d, nil
}
