package node

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/minsw/minsw/manager/identity"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// writeDuplicateHostnames warns, after node ls, of nodes that report one
// hostname: a hostname is self-reported, and a constraint
// node.hostname==NAME places tasks on any of them. The manager refuses a
// second node with a taken hostname at join; duplicates can still come
// from a swarm made before that, so they are shown, not hidden.
func writeDuplicateHostnames(w io.Writer, nodes []*minswv1.Node) {
	by := map[string][]string{}
	names := map[string]string{}
	for _, n := range nodes {
		h := n.GetDescription().GetHostname()
		if h == "" {
			continue
		}
		k := strings.ToLower(h)
		by[k] = append(by[k], identity.Short(n.GetId()))
		names[k] = h
	}
	keys := make([]string, 0, len(by))
	for k, ids := range by {
		if len(ids) > 1 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		ids := by[k]
		sort.Strings(ids)
		fmt.Fprintf(w, "WARNING: nodes %s report the same hostname %s: a constraint node.hostname==%s places tasks on any of them; rename one (minsw daemon --node-name) or remove it (minsw node rm)\n",
			strings.Join(ids, ", "), names[k], names[k])
	}
}
