package network

import (
	"strings"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// localMatches says whether one of the node's own networks passes the
// --filter values, read as the manager reads them for swarm networks: id
// and name prefixes, label "key" or "key=value", driver, scope (local),
// and type (host and none are docker's predefined, "builtin", networks;
// the gateway bridge is a custom one). The manager has already refused
// unknown keys.
func localMatches(fs []*minswv1.ListFilter, n *minswv1.LocalNetwork) bool {
	for _, f := range fs {
		ok := false
		for _, v := range f.GetValues() {
			if localMatch(f.GetKey(), v, n) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func localMatch(key, v string, n *minswv1.LocalNetwork) bool {
	switch key {
	case "id":
		return v != "" && strings.HasPrefix(n.GetId(), v)
	case "name":
		return strings.HasPrefix(n.GetName(), v)
	case "label":
		k, want, hasValue := strings.Cut(v, "=")
		got, ok := n.GetLabels()[k]
		return ok && (!hasValue || got == want)
	case "driver":
		return v == n.GetDriver()
	case "scope":
		return v == "local"
	case "type":
		builtin := n.GetName() == "host" || n.GetName() == "none"
		return (v == "builtin") == builtin && (v == "builtin" || v == "custom")
	}
	return false
}

// filterLocal keeps the local networks that pass fs.
func filterLocal(fs []*minswv1.ListFilter, nets []*minswv1.LocalNetwork) []*minswv1.LocalNetwork {
	var out []*minswv1.LocalNetwork
	for _, n := range nets {
		if localMatches(fs, n) {
			out = append(out, n)
		}
	}
	return out
}
