// Package prototest helps tests that guard hand-written copies of protobuf
// messages: a copy written field by field (cheaper than proto.Clone) must
// fail a test when the message gains a field the copy misses.
package prototest

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// FillEveryField sets every top-level field of m to a non-zero value: one
// element in each list, an empty message in each message field, "x", 7 or
// the first non-zero value in the scalars. A field of a kind it cannot set
// (a map, or a kind it does not know) fails t with a note naming the copy
// (who) that has to learn about it.
func FillEveryField(t testing.TB, m proto.Message, who string) {
	t.Helper()
	r := m.ProtoReflect()
	fields := r.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		switch {
		case fd.IsMap():
			t.Fatalf("%s has a map field %s: teach %s and this test about it", r.Descriptor().Name(), fd.Name(), who)
		case fd.IsList():
			l := r.Mutable(fd).List()
			if fd.Kind() == protoreflect.MessageKind {
				l.Append(protoreflect.ValueOfMessage(l.NewElement().Message()))
			} else {
				l.Append(protoreflect.ValueOfString("x"))
			}
		case fd.Kind() == protoreflect.MessageKind:
			r.Mutable(fd)
		case fd.Kind() == protoreflect.StringKind:
			r.Set(fd, protoreflect.ValueOfString("x"))
		case fd.Kind() == protoreflect.Uint64Kind:
			r.Set(fd, protoreflect.ValueOfUint64(7))
		case fd.Kind() == protoreflect.EnumKind:
			r.Set(fd, protoreflect.ValueOfEnum(1))
		case fd.Kind() == protoreflect.BoolKind:
			r.Set(fd, protoreflect.ValueOfBool(true))
		default:
			t.Fatalf("field %s of kind %v: teach prototest to set it", fd.Name(), fd.Kind())
		}
	}
}
