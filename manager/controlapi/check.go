package controlapi

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/minsw/minsw/internal/errdefs"
)

// Limits on the size of what a request may store. A spec is one raft entry
// and travels in every list and every task copy, so it is bounded as Swarm
// bounds one raft transaction (swarmkit's store.MaxTransactionBytes, 1.5 MiB,
// refused by its raft with ErrRequestTooLarge). One environment variable,
// argument or label is bounded by the kernel's MAX_ARG_STRLEN (32 pages,
// 128 KiB): a longer string could never reach execve anyway.
const (
	MaxSpecBytes   = 3 << 19 // 1.5 MiB
	MaxStringBytes = 128 << 10
)

// checkRequest refuses what no handler should store: an enum value the proto
// does not declare (restart condition 42, availability 99), a Duration or
// Timestamp outside its documented range (1 s + 2e9 ns), a string over
// MaxStringBytes, or a request over MaxSpecBytes. It walks the whole message,
// so every field of every spec is covered, including ones added later. The
// error names the field and the limit and never echoes the input back.
func checkRequest(m proto.Message) error {
	if m == nil {
		return nil
	}
	if n := proto.Size(m); n > MaxSpecBytes {
		return errdefs.InvalidArgument("request is %s, over the %s limit of one spec: make it smaller (large data belongs in an image or a volume)", humanBytes(n), humanBytes(MaxSpecBytes))
	}
	return checkMessage(m.ProtoReflect(), "")
}

func checkMessage(m protoreflect.Message, path string) error {
	switch m.Descriptor().FullName() {
	case "google.protobuf.Duration":
		d := m.Interface().(*durationpb.Duration)
		if err := d.CheckValid(); err != nil {
			return errdefs.InvalidArgument("invalid duration %s (%d s and %d ns): nanoseconds must lie within one second, with the seconds' sign", fieldName(path), d.GetSeconds(), d.GetNanos())
		}
		return nil
	case "google.protobuf.Timestamp":
		if err := m.Interface().(*timestamppb.Timestamp).CheckValid(); err != nil {
			return errdefs.InvalidArgument("invalid time %s: out of range", fieldName(path))
		}
		return nil
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := string(fd.Name())
		if path != "" {
			p = path + "." + p
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len() && err == nil; i++ {
				err = checkValue(fd, l.Get(i), fmt.Sprintf("%s[%d]", p, i))
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				if len(k.String()) > MaxStringBytes {
					err = tooLong(p + " key")
					return false
				}
				err = checkValue(fd.MapValue(), mv, p+"["+shortKey(k.String())+"]")
				return err == nil
			})
		default:
			err = checkValue(fd, v, p)
		}
		return err == nil
	})
	return err
}

func checkValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string) error {
	switch fd.Kind() {
	case protoreflect.EnumKind:
		ed := fd.Enum()
		if ed.Values().ByNumber(v.Enum()) != nil {
			return nil
		}
		var want []string
		for i := 0; i < ed.Values().Len(); i++ {
			want = append(want, enumWord(ed, ed.Values().Get(i).Name()))
		}
		return errdefs.InvalidArgument("invalid %s %d: want one of %s", fieldName(path), v.Enum(), strings.Join(want, ", "))
	case protoreflect.StringKind:
		// Bytes (a secret's or config's data) have limits of their own.
		if len(v.String()) > MaxStringBytes {
			return tooLong(path)
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return checkMessage(v.Message(), path)
	}
	return nil
}

func tooLong(path string) error {
	return errdefs.InvalidArgument("%s is longer than %s, the kernel's limit on one argument or environment string", fieldName(path), humanBytes(MaxStringBytes))
}

// fieldName turns spec.task.restart.condition into "restart condition
// (spec.task.restart.condition)": the user's words first, the path to find it.
func fieldName(path string) string {
	parts := strings.Split(path, ".")
	last := parts[len(parts)-1]
	if i := strings.IndexByte(last, '['); i >= 0 {
		last = last[:i]
	}
	words := strings.ReplaceAll(last, "_", " ")
	if len(parts) > 1 {
		// "restart condition"; "port protocol" of ports[0].
		prev := parts[len(parts)-2]
		if i := strings.IndexByte(prev, '['); i >= 0 {
			prev = strings.TrimSuffix(prev[:i], "s")
		}
		if !strings.Contains(words, prev) && prev != "spec" && prev != "container" && prev != "task" {
			words = strings.ReplaceAll(prev, "_", " ") + " " + words
		}
	}
	return words + " (" + path + ")"
}

// enumWord is a value's name as the CLI spells it: RESTART_CONDITION_ON_FAILURE
// of RestartCondition is "on-failure".
func enumWord(ed protoreflect.EnumDescriptor, n protoreflect.Name) string {
	prefix := ""
	if ed.Values().Len() > 0 {
		prefix = commonPrefix(ed)
	}
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(string(n), prefix)), "_", "-")
}

func commonPrefix(ed protoreflect.EnumDescriptor) string {
	p := string(ed.Values().Get(0).Name())
	for i := 1; i < ed.Values().Len(); i++ {
		n := string(ed.Values().Get(i).Name())
		for !strings.HasPrefix(n, p) {
			p = p[:len(p)-1]
		}
	}
	if i := strings.LastIndexByte(p, '_'); i >= 0 {
		return p[:i+1]
	}
	return ""
}

func shortKey(k string) string {
	if len(k) > 40 {
		return k[:40] + "…"
	}
	return k
}

func humanBytes(n int) string {
	switch {
	case n >= 1<<20:
		return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.2f", float64(n)/(1<<20)), "0"), ".0") + " MiB"
	case n >= 1<<10:
		return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.2f", float64(n)/(1<<10)), "0"), ".0") + " KiB"
	}
	return fmt.Sprintf("%d bytes", n)
}

// quoteShort quotes a value the user sent for an error message, cut to its
// first 64 bytes: an error names what is wrong, it does not echo a
// megabyte back.
func quoteShort(v string) string {
	const max = 64
	if len(v) <= max {
		return fmt.Sprintf("%q", v)
	}
	return fmt.Sprintf("%q… (%s)", v[:max], humanBytes(len(v)))
}
