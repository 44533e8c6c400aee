package convert

import (
	"strings"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Filters decoded from a list request's `filters` query parameter. Each
// kind accepts the keys docker's daemon accepts for it and answers 400 for
// others, as docker does. Matching follows docker's: id and name are
// prefixes (services, tasks), labels are "key" or "key=value" and all must
// hold, other keys match exactly; values of one key are alternatives.

// ParseFilters decodes the JSON of a `filters` parameter and checks its keys.
func ParseFilters(raw string, accepted ...string) (filters.Args, error) {
	args, err := filters.FromJSON(raw)
	if err != nil {
		return args, invalid("invalid filters %q: %v", raw, err)
	}
	ok := map[string]bool{}
	for _, k := range accepted {
		ok[k] = true
	}
	for _, k := range args.Keys() {
		if !ok[k] {
			return args, invalid("invalid filter '%s'", k)
		}
	}
	return args, nil
}

// ServiceFilterKeys are the keys GET /services accepts.
var ServiceFilterKeys = []string{"id", "label", "mode", "name", "runtime"}

// runtime is the kind of every minsw task for docker's runtime filter:
// minsw runs containers (docker's other kinds are plugins and network
// attachments, which minsw does not make).
const runtime = "container"

func anyPrefix(args filters.Args, key, s string) bool {
	vals := args.Get(key)
	if len(vals) == 0 {
		return true
	}
	for _, v := range vals {
		if strings.HasPrefix(s, v) {
			return true
		}
	}
	return false
}

func anyExact(args filters.Args, key, s string) bool {
	vals := args.Get(key)
	if len(vals) == 0 {
		return true
	}
	for _, v := range vals {
		if v == s {
			return true
		}
	}
	return false
}

// MatchService says whether s passes the service filters.
func MatchService(args filters.Args, s *api.Service) bool {
	// docker's names for the four modes, as its daemon filters them.
	mode := "replicated"
	switch {
	case s.GetSpec().GetGlobal() != nil:
		mode = "global"
	case s.GetSpec().GetReplicatedJob() != nil:
		mode = "replicated-job"
	case s.GetSpec().GetGlobalJob() != nil:
		mode = "global-job"
	}
	return anyPrefix(args, "id", s.GetId()) &&
		anyPrefix(args, "name", s.GetSpec().GetName()) &&
		anyExact(args, "mode", mode) &&
		anyExact(args, "runtime", runtime) &&
		args.MatchKVList("label", s.GetSpec().GetLabels())
}

// NodeFilterKeys are the keys GET /nodes accepts.
var NodeFilterKeys = []string{"id", "label", "membership", "name", "node.label", "role"}

// MatchNode says whether n passes the node filters: "label" is the
// engine's labels (the daemon's --label), "node.label" the node's own, and
// "name" a prefix of the hostname, as swarmkit's; every listed node is an
// accepted member.
func MatchNode(args filters.Args, n *api.Node) bool {
	return anyPrefix(args, "id", n.GetId()) &&
		anyPrefix(args, "name", n.GetDescription().GetHostname()) &&
		args.MatchKVList("label", n.GetDescription().GetEngineLabels()) &&
		anyExact(args, "role", string(nodeRoles[n.GetRole()])) &&
		anyExact(args, "membership", "accepted") &&
		args.MatchKVList("node.label", n.GetSpec().GetLabels())
}

// TaskFilterKeys are the keys GET /tasks accepts.
var TaskFilterKeys = []string{"_up-to-date", "desired-state", "id", "label", "name", "node", "runtime", "service"}

// TaskName is docker's name for a task: <service>.<slot> for replicated
// tasks, <service>.<node id> for global ones.
func TaskName(t *api.Task) string {
	if t.GetSlot() == 0 {
		return t.GetServiceName() + "." + t.GetNodeId()
	}
	return t.GetServiceName() + "." + uitoa(t.GetSlot())
}

func uitoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

// MatchTask says whether t passes the task filters. serviceIDs and nodeIDs
// are the "service" and "node" values resolved to IDs (nil: no filter);
// svc is t's service (nil if gone), for labels and _up-to-date.
func MatchTask(args filters.Args, t *api.Task, svc *api.Service, serviceIDs, nodeIDs map[string]bool) bool {
	if serviceIDs != nil && !serviceIDs[t.GetServiceId()] {
		return false
	}
	if nodeIDs != nil && !nodeIDs[t.GetNodeId()] {
		return false
	}
	if args.Contains("_up-to-date") && (svc == nil || t.GetSpecVersion() != svc.GetSpecVersion()) {
		return false
	}
	if ds := args.Get("desired-state"); len(ds) > 0 {
		want := TaskState(t.GetDesiredState())
		ok := false
		for _, d := range ds {
			// docker counts every state up to running as "running".
			if string(want) == d || (d == "running" && t.GetDesiredState() <= api.TaskState_TASK_STATE_RUNNING) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return anyPrefix(args, "id", t.GetId()) &&
		anyPrefix(args, "name", TaskName(t)) &&
		anyExact(args, "runtime", runtime) &&
		args.MatchKVList("label", svc.GetSpec().GetLabels())
}

// NetworkDangling is docker's dangling filter's test on a listed network:
// not one docker predefines, and no container or service shown on it. As
// on a docker manager, a swarm network as listed shows none, so every
// swarm network (ingress too) counts as dangling.
func NetworkDangling(n network.Inspect) bool {
	return networkType(n.Name) != "builtin" && len(n.Containers) == 0 && len(n.Services) == 0
}

func networkType(name string) string {
	switch name {
	case "bridge", "host", "none", "default":
		return "builtin"
	}
	return "custom"
}

// NetworkFilterKeys are the keys GET /networks accepts.
var NetworkFilterKeys = []string{"dangling", "driver", "id", "label", "name", "scope", "type"}

// MatchNetwork says whether n (a network as docker shows it) passes the
// network filters. The type is docker's: "builtin" are the networks docker
// predefines (bridge, host, none, default), every other one, ingress
// included, is "custom".
func MatchNetwork(args filters.Args, name, id, driver, scope string, labels map[string]string) bool {
	typ := networkType(name)
	if names := args.Get("name"); len(names) > 0 && !args.Match("name", name) {
		return false
	}
	if ids := args.Get("id"); len(ids) > 0 && !args.Match("id", id) {
		return false
	}
	return anyExact(args, "driver", driver) &&
		anyExact(args, "scope", scope) &&
		anyExact(args, "type", typ) &&
		args.MatchKVList("label", labels)
}
