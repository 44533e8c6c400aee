package agent

import (
	"regexp"
	"sort"
	"strings"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// LogAttrs are the attributes a task's log lines carry (docker's
// --details): the values of the container labels and environment
// variables its log options name, as docker's json-file driver reads
// --log-opt labels=a,b / labels-regex= / env=A,B / env-regex=. A bad
// regex (the control API refuses one) names nothing.
func LogAttrs(t *api.Task) []*api.LogAttr {
	opts := t.GetSpec().GetLogDriver().GetOptions()
	if len(opts) == 0 {
		return nil
	}
	c := t.GetSpec().GetContainer()
	env := map[string]string{}
	for _, kv := range c.GetEnv() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	attrs := map[string]string{}
	pick(attrs, c.GetLabels(), opts["labels"], opts["labels-regex"])
	pick(attrs, env, opts["env"], opts["env-regex"])
	out := make([]*api.LogAttr, 0, len(attrs))
	for k, v := range attrs {
		out = append(out, &api.LogAttr{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetKey() < out[j].GetKey() })
	return out
}

// pick copies into attrs the entries of from named in the comma-separated
// list names or whose key matches the regular expression re.
func pick(attrs, from map[string]string, names, re string) {
	if names != "" {
		for _, k := range strings.Split(names, ",") {
			if v, ok := from[k]; ok {
				attrs[k] = v
			}
		}
	}
	if re == "" {
		return
	}
	rx, err := regexp.Compile(re)
	if err != nil {
		return
	}
	for k, v := range from {
		if rx.MatchString(k) {
			attrs[k] = v
		}
	}
}
