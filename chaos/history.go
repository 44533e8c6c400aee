package chaos

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Kind is what an operation did.
type Kind int

const (
	Read Kind = iota
	Create
	Update // compare-and-set: from the value read (at its version) to a new one
)

// Result is an operation's outcome as the client saw it.
type Result int

const (
	OK       Result = iota
	NotFound        // read or update: no such object
	Exists          // create: the name is taken
	Conflict        // update: the version moved on
	Failed          // a definite refusal: nothing was written
	Unknown         // the write may or may not have happened
)

func (r Result) String() string {
	return [...]string{"ok", "not found", "exists", "conflict", "failed", "unknown"}[r]
}

// Input is an operation's request. Every write stores a value no other
// write stores, so a value names the write that made it.
type Input struct {
	Kind   Kind
	Key    string
	Expect string // update: the value it read (and whose version it sends)
	Value  string // create, update: the value it writes
}

// Output is an operation's answer.
type Output struct {
	Result Result
	Value  string // read: the value seen
}

// Op is one recorded operation; Return is math.MaxInt64 for an unknown
// outcome (it may take effect at any time after its call).
type Op struct {
	Client int
	In     Input
	Out    Output
	Call   int64
	Return int64
	Err    string // the error text, to explain a failure
}

// Recorder collects operations from concurrent clients, timed on one
// monotonic clock.
type Recorder struct {
	mu    sync.Mutex
	start time.Time
	ops   []Op
}

// NewRecorder starts the clock.
func NewRecorder() *Recorder { return &Recorder{start: time.Now()} }

// Now is the time on the recorder's clock.
func (r *Recorder) Now() int64 { return int64(time.Since(r.start)) }

// Add records op; an Unknown result gets an open end.
func (r *Recorder) Add(op Op) {
	if op.Out.Result == Unknown {
		op.Return = math.MaxInt64
	}
	r.mu.Lock()
	r.ops = append(r.ops, op)
	r.mu.Unlock()
}

// Ops is a copy of what was recorded.
func (r *Recorder) Ops() []Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Op(nil), r.ops...)
}

// state is one key's register: whether the object exists and its value.
type state struct {
	Exists bool
	Value  string
}

// Model is the register each key is: reads see the last write, a create
// needs the key free, an update needs the value it read to be current
// (the API checks the version it read, and each version has one value).
// A conflict may be answered at any time (other writers, such as the
// updater, move a service's version without changing the value), a
// definite failure changes nothing, and an unknown outcome may or may not
// have happened.
var Model = porcupine.NondeterministicModel{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range h {
			k := op.Input.(Input).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		sort.Strings(keys)
		var out [][]porcupine.Operation
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() []interface{} { return []interface{}{state{}} },
	Step: func(st, in, out interface{}) []interface{} {
		s, i, o := st.(state), in.(Input), out.(Output)
		next := s
		switch i.Kind {
		case Read:
			switch {
			case o.Result == OK && s.Exists && s.Value == o.Value,
				o.Result == NotFound && !s.Exists:
				return []interface{}{s}
			}
			return nil
		case Create:
			if !s.Exists {
				next = state{Exists: true, Value: i.Value}
			}
			switch o.Result {
			case OK:
				if !s.Exists {
					return []interface{}{next}
				}
			case Exists:
				if s.Exists {
					return []interface{}{s}
				}
			case Failed:
				return []interface{}{s}
			case Unknown:
				return []interface{}{s, next}
			}
			return nil
		case Update:
			applies := s.Exists && s.Value == i.Expect
			if applies {
				next = state{Exists: true, Value: i.Value}
			}
			switch o.Result {
			case OK:
				if applies {
					return []interface{}{next}
				}
			case Conflict:
				if s.Exists {
					return []interface{}{s}
				}
			case NotFound:
				if !s.Exists {
					return []interface{}{s}
				}
			case Failed:
				return []interface{}{s}
			case Unknown:
				return []interface{}{s, next}
			}
			return nil
		}
		return nil
	},
	Equal: func(a, b interface{}) bool { return a.(state) == b.(state) },
	DescribeOperation: func(in, out interface{}) string {
		i, o := in.(Input), out.(Output)
		switch i.Kind {
		case Read:
			return fmt.Sprintf("read %s -> %s %s", i.Key, o.Result, o.Value)
		case Create:
			return fmt.Sprintf("create %s=%s -> %s", i.Key, i.Value, o.Result)
		}
		return fmt.Sprintf("cas %s %s->%s -> %s", i.Key, i.Expect, i.Value, o.Result)
	},
	DescribeState: func(st interface{}) string { return fmt.Sprintf("%+v", st.(state)) },
}

// Linearizable checks ops with porcupine: "yes", "NO", or "unknown" when
// the search did not end within timeout.
func Linearizable(ops []Op, timeout time.Duration) string {
	v, _ := check(ops, timeout)
	return v
}

func check(ops []Op, timeout time.Duration) (string, porcupine.LinearizationInfo) {
	h := make([]porcupine.Operation, len(ops))
	for i, op := range ops {
		h[i] = porcupine.Operation{ClientId: op.Client, Input: op.In, Output: op.Out, Call: op.Call, Return: op.Return}
	}
	res, info := porcupine.CheckOperationsVerbose(Model.ToModel(), h, timeout)
	switch res {
	case porcupine.Ok:
		return "yes", info
	case porcupine.Illegal:
		return "NO", info
	}
	return "unknown", info
}

// Explain writes porcupine's visualization of ops (an HTML page showing
// the longest linearizable prefix of each key and where it breaks) to path.
func Explain(ops []Op, timeout time.Duration, path string) error {
	_, info := check(ops, timeout)
	if err := porcupine.VisualizePath(Model.ToModel(), info, path); err != nil {
		return err
	}
	// And as text, one operation a line in call order, for grep.
	sorted := append([]Op(nil), ops...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Call < sorted[j].Call })
	var b strings.Builder
	for _, op := range sorted {
		ret := "?"
		if op.Return != math.MaxInt64 {
			ret = time.Duration(op.Return).String()
		}
		fmt.Fprintf(&b, "%v\t%s\tclient %d\t%s\t%s\n", time.Duration(op.Call), ret, op.Client, Model.DescribeOperation(op.In, op.Out), op.Err)
	}
	return os.WriteFile(strings.TrimSuffix(path, ".html")+".txt", []byte(b.String()), 0o644)
}

// StaleReads counts reads that returned what an acknowledged write had
// already replaced when the read began: a value after a compare-and-set
// from it was acknowledged, or "not found" after the create was.
func StaleReads(ops []Op) int {
	gone := map[[2]string]int64{} // (key, value) -> when it was known replaced
	created := map[string]int64{}
	for _, op := range ops {
		if op.Out.Result != OK {
			continue
		}
		switch op.In.Kind {
		case Update:
			k := [2]string{op.In.Key, op.In.Expect}
			if t, ok := gone[k]; !ok || op.Return < t {
				gone[k] = op.Return
			}
		case Create:
			if t, ok := created[op.In.Key]; !ok || op.Return < t {
				created[op.In.Key] = op.Return
			}
		}
	}
	n := 0
	for _, op := range ops {
		if op.In.Kind != Read {
			continue
		}
		switch op.Out.Result {
		case OK:
			if t, ok := gone[[2]string{op.In.Key, op.Out.Value}]; ok && t < op.Call {
				n++
			}
		case NotFound:
			if t, ok := created[op.In.Key]; ok && t < op.Call {
				n++
			}
		}
	}
	return n
}

// Lost counts acknowledged writes missing from the final state: final maps
// each key to the value read once the cluster healed. The writes that
// survive are the chain of compare-and-sets back from that value to the
// create; an acknowledged write off the chain was lost.
func Lost(ops []Op, final map[string]string) int {
	// Values are unique, so whatever the answer said, the one update that
	// writes a value is where that value came from.
	from := map[[2]string]string{} // (key, value) -> the value it replaced
	for _, op := range ops {
		if op.In.Kind == Update {
			from[[2]string{op.In.Key, op.In.Value}] = op.In.Expect
		}
	}
	kept := map[[2]string]bool{}
	for k, v := range final {
		for steps := 0; v != "" && steps <= len(ops); steps++ {
			kept[[2]string{k, v}] = true
			prev, ok := from[[2]string{k, v}]
			if !ok {
				break
			}
			v = prev
		}
	}
	n := 0
	for _, op := range ops {
		if (op.In.Kind == Update || op.In.Kind == Create) && op.Out.Result == OK && !kept[[2]string{op.In.Key, op.In.Value}] {
			n++
		}
	}
	return n
}
