// Package inspect prints objects as docker's inspect does: the stored
// protobuf object in docker's JSON shape (keys, enums, times), or through
// a --format template.
package inspect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Object is a JSON object that keeps its keys in the order they were added,
// so inspect output reads top-down like docker's (ID, Version, CreatedAt, Spec...).
type Object []Field

// Field is one key of an Object.
type Field struct {
	Key   string
	Value any
}

func (o *Object) set(key string, value any) { *o = append(*o, Field{key, value}) }

// MarshalJSON writes the keys in their order.
func (o Object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.Key)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(f.Value)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// WriteJSON prints v as docker's inspect does: indented, HTML not escaped.
func WriteJSON(out io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "    ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := out.Write(b.Bytes())
	return err
}

// fieldNames renames fields whose docker name differs from the proto one,
// keyed by "<message>.<field>".
var fieldNames = map[string]string{
	"ServiceSpec.task":               "TaskTemplate",
	"ServiceSpec.update":             "UpdateConfig",
	"ServiceSpec.rollback":           "RollbackConfig",
	"ServiceSpec.endpoint":           "EndpointSpec",
	"TaskSpec.container":             "ContainerSpec",
	"TaskSpec.restart":               "RestartPolicy",
	"TaskStatus.container":           "ContainerStatus",
	"Task.networks":                  "NetworksAttachments",
	"Endpoint.virtual_ips":           "VirtualIPs",
	"Node.lb_attachments":            "LBAttachments",
	"NodeSpec.desired_role":          "Role",
	"NodeDescription.os":             "OS",
	"NodeDescription.engine_version": "EngineVersion",
	"FileTarget.uid":                 "UID",
	"FileTarget.gid":                 "GID",
	"Mount.readonly":                 "ReadOnly",
	"VolumeOptions.nocopy":           "NoCopy",
}

// dockerKey turns a proto field name into docker's Go-style JSON key:
// node_id -> NodeID, virtual_ips -> VirtualIPs.
func dockerKey(msg protoreflect.Message, fd protoreflect.FieldDescriptor) string {
	if k, ok := fieldNames[string(msg.Descriptor().Name())+"."+string(fd.Name())]; ok {
		return k
	}
	var b strings.Builder
	for _, part := range strings.Split(string(fd.Name()), "_") {
		switch part {
		case "id", "ip", "vni", "os", "ca", "lb", "tls", "mac":
			if part == "mac" {
				b.WriteString("Mac")
				continue
			}
			b.WriteString(strings.ToUpper(part))
		case "ips":
			b.WriteString("IPs")
		default:
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// enumName shows an enum value as docker does: NODE_ROLE_MANAGER ->
// "manager", RESTART_CONDITION_ON_FAILURE -> "on-failure".
func enumName(fd protoreflect.FieldDescriptor, v protoreflect.EnumNumber) string {
	ev := fd.Enum().Values().ByNumber(v)
	if ev == nil {
		return fmt.Sprint(v)
	}
	name := string(ev.Name())
	// The prefix is the enum's name in upper snake case (NodeRole -> NODE_ROLE_).
	prefix := upperSnake(string(fd.Enum().Name())) + "_"
	name = strings.TrimPrefix(name, prefix)
	if fd.Enum().Name() == "UpdateState" {
		return strings.ToLower(name) // docker's "rollback_completed"
	}
	return strings.ReplaceAll(strings.ToLower(name), "_", "-")
}

func upperSnake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

// DockerObject renders a stored object with docker's shape: Meta flattened
// into Version/CreatedAt/UpdatedAt, a service's mode under "Mode", times
// as RFC 3339, durations in nanoseconds, enums in lower case.
func DockerObject(m protoreflect.Message) Object {
	var o Object
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if oneof := fd.ContainingOneof(); oneof != nil && !oneof.IsSynthetic() {
			if !m.Has(fd) {
				continue
			}
			// ServiceSpec.mode: {"Mode": {"Replicated": {"Replicas": 2}}}
			o.set(upperFirst(string(oneof.Name())), Object{{dockerKey(m, fd), value(m, fd, m.Get(fd))}})
			continue
		}
		if fd.Message() != nil && fd.Message().FullName() == "minsw.v1.Meta" && !fd.IsList() {
			meta := m.Get(fd).Message()
			get := func(name string) protoreflect.Value {
				return meta.Get(meta.Descriptor().Fields().ByName(protoreflect.Name(name)))
			}
			o.set("Version", Object{{"Index", get("version").Uint()}})
			for _, n := range []string{"created_at", "updated_at"} {
				if ts := get(n).Message(); ts.IsValid() {
					o.set(dockerKey(meta, meta.Descriptor().Fields().ByName(protoreflect.Name(n))), timeString(ts))
				}
			}
			continue
		}
		switch {
		case fd.IsList() || fd.IsMap() || fd.Message() != nil:
			if !m.Has(fd) {
				continue
			}
		case fd.Kind() == protoreflect.StringKind || fd.Kind() == protoreflect.BytesKind:
			if !m.Has(fd) {
				continue
			}
		}
		o.set(dockerKey(m, fd), value(m, fd, m.Get(fd)))
	}
	return o
}

func upperFirst(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

func timeString(ts protoreflect.Message) string {
	t := ts.Interface().(*timestamppb.Timestamp).AsTime()
	return t.UTC().Format(time.RFC3339Nano)
}

func value(m protoreflect.Message, fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch {
	case fd.IsList():
		l := v.List()
		out := make([]any, l.Len())
		for i := range out {
			out[i] = scalar(fd, l.Get(i))
		}
		return out
	case fd.IsMap():
		out := map[string]any{}
		v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			out[k.String()] = scalar(fd.MapValue(), mv)
			return true
		})
		return out
	}
	return scalar(fd, v)
}

func scalar(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		msg := v.Message()
		switch msg.Descriptor().FullName() {
		case "google.protobuf.Timestamp":
			return timeString(msg)
		case "google.protobuf.Duration":
			return msg.Interface().(*durationpb.Duration).AsDuration().Nanoseconds()
		}
		return DockerObject(msg)
	case protoreflect.EnumKind:
		return enumName(fd, v.Enum())
	case protoreflect.BytesKind:
		return string(v.Bytes())
	}
	return v.Interface()
}

// Write prints objects as docker's inspect JSON, or, with pretty,
// each through printPretty with a blank line between them.
func Write[T interface{ ProtoReflect() protoreflect.Message }](out io.Writer, items []T, pretty bool, printPretty func(T)) error {
	if pretty {
		for i, it := range items {
			if i > 0 {
				fmt.Fprintln(out)
			}
			printPretty(it)
		}
		return nil
	}
	objs := make([]any, len(items))
	for i, it := range items {
		objs[i] = DockerObject(it.ProtoReflect())
	}
	return WriteJSON(out, objs)
}

// Time is t as inspect shows times; docker's zero time when t is unset.
func Time(t *timestamppb.Timestamp) string {
	if t == nil {
		return "0001-01-01T00:00:00Z"
	}
	return t.AsTime().UTC().Format(time.RFC3339Nano)
}
