// Package logfile is the on-disk format of a container's log: one record
// per line, "<RFC 3339 time> <stdout|stderr> <F|P> <data>", the format
// containerd's CRI plugin writes. F ends a line (the newline is the
// record's own); P is a piece of a line that goes on in the next record
// (one longer than MaxLine, or a last line the container never ended).
// It owns the encoding, the decoding and the cutting of a stream into
// records; it reads no files.
package logfile

import (
	"bytes"
	"errors"
	"time"
)

// MaxLine is the longest piece one record holds, as docker's 16 KiB.
const MaxLine = 16 << 10

// Entry is one record: a line of the container's output, or a piece of one.
type Entry struct {
	// Time is when the log writer read it; zero for a line of a log that
	// keeps no records.
	Time   time.Time
	Stderr bool
	// Line ends with its newline, unless it is a piece (Partial).
	Line []byte
}

// Partial reports whether e is a piece of a longer line.
func (e Entry) Partial() bool { return len(e.Line) == 0 || e.Line[len(e.Line)-1] != '\n' }

const timeLayout = time.RFC3339Nano

// Append adds e's record to buf.
func Append(buf []byte, e Entry) []byte {
	buf = e.Time.UTC().AppendFormat(buf, timeLayout)
	if e.Stderr {
		buf = append(buf, " stderr "...)
	} else {
		buf = append(buf, " stdout "...)
	}
	if e.Partial() {
		buf = append(buf, "P "...)
		buf = append(buf, e.Line...)
		return append(buf, '\n')
	}
	buf = append(buf, "F "...)
	return append(buf, e.Line...)
}

// ErrBadRecord is returned for a line that is not a record.
var ErrBadRecord = errors.New("not a log record")

// Parse reads one record (with or without its final newline). The entry's
// Line is a slice of rec.
func Parse(rec []byte) (Entry, error) {
	rec = bytes.TrimSuffix(rec, []byte("\n"))
	sp := bytes.IndexByte(rec, ' ')
	if sp < 0 {
		return Entry{}, ErrBadRecord
	}
	t, err := time.Parse(timeLayout, string(rec[:sp]))
	if err != nil {
		return Entry{}, ErrBadRecord
	}
	rest := rec[sp+1:]
	var e Entry
	switch {
	case bytes.HasPrefix(rest, []byte("stdout ")):
	case bytes.HasPrefix(rest, []byte("stderr ")):
		e.Stderr = true
	default:
		return Entry{}, ErrBadRecord
	}
	rest = rest[len("stdout "):]
	if len(rest) < 2 || rest[1] != ' ' {
		return Entry{}, ErrBadRecord
	}
	e.Time = t
	switch rest[0] {
	case 'F':
		// The record's newline is the line's: rec[len(rec)] is '\n'
		// unless the file ended there, so give it back by copy.
		e.Line = append(rest[2:len(rest):len(rest)], '\n')
	case 'P':
		e.Line = rest[2:]
	default:
		return Entry{}, ErrBadRecord
	}
	return e, nil
}

// Cutter cuts one stream of a container's output into records: whole
// lines, and pieces of MaxLine bytes of longer ones. It is not safe for
// concurrent use; use one per stream.
type Cutter struct {
	Stderr bool
	// Now stamps records; time.Now when nil.
	Now  func() time.Time
	pend []byte
}

// Write cuts p, appending the records of what it completes to out.
func (c *Cutter) Write(out []byte, p []byte) []byte {
	now := c.now()
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			c.pend = append(c.pend, p...)
			p = nil
		} else {
			c.pend = append(c.pend, p[:i+1]...)
			p = p[i+1:]
		}
		for len(c.pend) >= MaxLine && (len(c.pend) > MaxLine || c.pend[MaxLine-1] != '\n') {
			out = Append(out, Entry{Time: now, Stderr: c.Stderr, Line: c.pend[:MaxLine]})
			c.pend = append(c.pend[:0], c.pend[MaxLine:]...)
		}
		if n := len(c.pend); n > 0 && c.pend[n-1] == '\n' {
			out = Append(out, Entry{Time: now, Stderr: c.Stderr, Line: c.pend})
			c.pend = c.pend[:0]
		}
	}
	return out
}

// Flush appends a record of an unended last line, if any.
func (c *Cutter) Flush(out []byte) []byte {
	if len(c.pend) == 0 {
		return out
	}
	out = Append(out, Entry{Time: c.now(), Stderr: c.Stderr, Line: c.pend})
	c.pend = c.pend[:0]
	return out
}

func (c *Cutter) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Filter says which entries a reader wants: those written in
// [Since, Until]; a zero bound is open. Entries without a time pass.
type Filter struct {
	Since, Until time.Time
}

// Keep reports whether e is wanted.
func (f Filter) Keep(e Entry) bool {
	if e.Time.IsZero() {
		return true
	}
	if !f.Since.IsZero() && e.Time.Before(f.Since) {
		return false
	}
	return f.Until.IsZero() || !e.Time.After(f.Until)
}

// Past reports whether e was written so long after Until that no entry
// at or before Until can follow it: a reader can stop. stdout and stderr
// are stamped as each is read, so their records can reach the file a
// little out of order; an entry just past Until is only dropped (Keep),
// and reading goes on for StreamSkew.
func (f Filter) Past(e Entry) bool {
	return !f.Until.IsZero() && !e.Time.IsZero() && e.Time.After(f.Until.Add(StreamSkew))
}

// StreamSkew bounds how far out of time order the log writer can put
// the records of a task's two streams.
const StreamSkew = time.Second

// ErrPast ends a Decoder's writes once an entry written after the
// filter's Until has been read: a follower has nothing more to give.
var ErrPast = errors.New("log read past its until")

// Decoder turns a log file's bytes, as they are read, into entries: it is
// the io.Writer a file is copied into. A log of records (Records) gives
// their times and streams; a log without (written before records were
// kept) gives its lines with no time. Entries the filter does not keep are
// dropped; each Write hands what it completed to Emit in one batch.
type Decoder struct {
	Records bool
	Filter  Filter
	Emit    func([]Entry) error
	pend    []byte
}

// Write decodes the whole lines p completes; a Write after an entry past
// the filter's Until fails with ErrPast.
func (d *Decoder) Write(p []byte) (int, error) {
	data := append(d.pend, p...)
	end := bytes.LastIndexByte(data, '\n') + 1
	// What follows the last newline waits for the next write, in a buffer
	// of its own: the entries handed out alias data.
	d.pend = append([]byte(nil), data[end:]...)
	if err := d.decode(data[:end]); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush decodes an unended last line.
func (d *Decoder) Flush() error {
	data := d.pend
	d.pend = nil
	return d.decode(data)
}

func (d *Decoder) decode(data []byte) error {
	var batch []Entry
	past := false
	for len(data) > 0 && !past {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line = data[:i+1]
		}
		data = data[len(line):]
		e := Entry{Line: line}
		if d.Records {
			if r, err := Parse(line); err == nil {
				e = r
			}
		}
		switch {
		case d.Filter.Past(e):
			past = true
		case d.Filter.Keep(e):
			batch = append(batch, e)
		}
	}
	if len(batch) > 0 && d.Emit != nil {
		if err := d.Emit(batch); err != nil {
			return err
		}
	}
	if past {
		return ErrPast
	}
	return nil
}
