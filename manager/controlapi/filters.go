package controlapi

import (
	"strconv"
	"strings"

	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Docker's list filters, implemented once for the CLI's --filter and the
// Engine API's filters query: the values of one key match any of them, and
// every key given must match. A key the list does not know is refused, as
// docker refuses it.

// Filters is a parsed filter set: key -> values.
type Filters map[string][]string

// The keys each list knows (docker's).
var (
	serviceFilterKeys = []string{"id", "name", "label", "mode"}
	nodeFilterKeys    = []string{"id", "name", "label", "node.label", "role", "membership"}
	networkFilterKeys = []string{"id", "name", "label", "driver", "scope", "type"}
	taskFilterKeys    = []string{"id", "name", "node", "desired-state", "label"}
)

// ParseFilters checks fs against the keys a list knows.
func ParseFilters(fs []*api.ListFilter, known []string) (Filters, error) {
	out := Filters{}
	for _, f := range fs {
		if !contains(known, f.GetKey()) {
			return nil, errdefs.InvalidArgument("invalid filter '%s'", f.GetKey())
		}
		out[f.GetKey()] = append(out[f.GetKey()], f.GetValues()...)
	}
	return out, nil
}

// any reports whether some value of key matches; a key not given matches.
func (f Filters) any(key string, match func(v string) bool) bool {
	vs, ok := f[key]
	if !ok {
		return true
	}
	for _, v := range vs {
		if match(v) {
			return true
		}
	}
	return false
}

// idMatch is docker's id filter: a prefix of the ID.
func idMatch(id string) func(string) bool {
	return func(v string) bool { return v != "" && strings.HasPrefix(id, v) }
}

// nameMatch is docker's name filter on swarm objects: a prefix of the name.
func nameMatch(name string) func(string) bool {
	return func(v string) bool { return strings.HasPrefix(name, v) }
}

// labelMatch is docker's label filter: "key" (present) or "key=value".
func labelMatch(labels map[string]string) func(string) bool {
	return func(v string) bool {
		k, want, hasValue := strings.Cut(v, "=")
		got, ok := labels[k]
		return ok && (!hasValue || got == want)
	}
}

// MatchService reports whether a service passes f (keys: id, name, label,
// mode).
func MatchService(s *api.Service, f Filters) bool {
	mode := "replicated"
	if s.GetSpec().GetGlobal() != nil {
		mode = "global"
	}
	return f.any("id", idMatch(s.GetId())) && f.any("name", nameMatch(s.GetSpec().GetName())) &&
		f.any("label", labelMatch(s.GetSpec().GetLabels())) &&
		f.any("mode", func(v string) bool { return strings.EqualFold(v, mode) })
}

// MatchNode reports whether a node passes f (keys: id, name, label and
// node.label, role, membership).
func MatchNode(n *api.Node, f Filters) bool {
	role := "worker"
	if n.GetRole() == api.NodeRole_NODE_ROLE_MANAGER {
		role = "manager"
	}
	return f.any("id", idMatch(n.GetId())) && f.any("name", nameMatch(n.GetDescription().GetHostname())) &&
		f.any("label", labelMatch(n.GetDescription().GetEngineLabels())) &&
		f.any("node.label", labelMatch(n.GetSpec().GetLabels())) &&
		f.any("role", func(v string) bool { return strings.EqualFold(v, role) }) &&
		// Every node in the store has been accepted (minsw has no pending
		// membership).
		f.any("membership", func(v string) bool { return strings.EqualFold(v, "accepted") })
}

// MatchNetwork reports whether a network passes f (keys: id, name, label,
// driver, scope, type).
func MatchNetwork(n *api.Network, f Filters) bool {
	return f.any("id", idMatch(n.GetId())) && f.any("name", nameMatch(n.GetSpec().GetName())) &&
		f.any("label", labelMatch(n.GetSpec().GetLabels())) &&
		f.any("driver", func(v string) bool { return v == n.GetSpec().GetDriver() }) &&
		f.any("scope", func(v string) bool { return v == "swarm" }) &&
		// docker's "builtin" networks are the predefined bridge, host and
		// none; every swarm network, ingress included, is "custom".
		f.any("type", func(v string) bool { return v == "custom" })
}

// matchTask reports whether a task passes f (keys: id, name, node,
// desired-state, label); nodeName is its node's hostname.
func matchTask(t *api.Task, nodeName string, f Filters) bool {
	desired := strings.ToLower(strings.TrimPrefix(t.GetDesiredState().String(), "TASK_STATE_"))
	return f.any("id", idMatch(t.GetId())) &&
		f.any("name", func(v string) bool { return strings.HasPrefix(t.GetServiceName()+"."+slotOrNode(t), v) }) &&
		f.any("node", func(v string) bool { return v == nodeName || (v != "" && strings.HasPrefix(t.GetNodeId(), v)) }) &&
		f.any("desired-state", func(v string) bool {
			// docker's "accepted" means tasks meant to run, not yet running.
			return v == desired || (v == "accepted" && t.GetDesiredState() <= api.TaskState_TASK_STATE_RUNNING)
		}) &&
		f.any("label", labelMatch(t.GetSpec().GetContainer().GetLabels()))
}

func slotOrNode(t *api.Task) string {
	if t.GetSlot() == 0 {
		return t.GetNodeId()
	}
	return strconv.FormatUint(t.GetSlot(), 10)
}

// filterList keeps the items that match.
func filterList[T any](items []T, match func(T) bool) []T {
	out := items[:0:0]
	for _, it := range items {
		if match(it) {
			out = append(out, it)
		}
	}
	return out
}
