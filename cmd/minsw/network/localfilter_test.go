package network

import (
	"strings"
	"testing"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

func TestLocalNetworkFilters(t *testing.T) {
	nets := []*minswv1.LocalNetwork{
		{Id: "128fd1cb0fae", Name: "minsw_gwbridge", Driver: "bridge", Labels: map[string]string{"com.docker.network.equivalent": "docker_gwbridge"}},
		{Id: "0ea68b0d28b9", Name: "host", Driver: "host"},
		{Id: "a8edf1804fb6", Name: "none", Driver: "null"},
	}
	f := func(kv ...string) []*minswv1.ListFilter {
		var out []*minswv1.ListFilter
		for i := 0; i < len(kv); i += 2 {
			out = append(out, &minswv1.ListFilter{Key: kv[i], Values: []string{kv[i+1]}})
		}
		return out
	}
	for _, c := range []struct {
		name string
		fs   []*minswv1.ListFilter
		want string
	}{
		{"no filter", nil, "minsw_gwbridge host none"},
		{"overlay networks only", f("driver", "overlay"), ""},
		{"the bridge driver", f("driver", "bridge"), "minsw_gwbridge"},
		{"scope local", f("scope", "local"), "minsw_gwbridge host none"},
		{"scope swarm", f("scope", "swarm"), ""},
		{"builtin ones", f("type", "builtin"), "host none"},
		{"custom ones", f("type", "custom"), "minsw_gwbridge"},
		{"name prefix", f("name", "ho"), "host"},
		{"id prefix", f("id", "a8ed"), "none"},
		{"a label", f("label", "com.docker.network.equivalent"), "minsw_gwbridge"},
		{"two keys", f("scope", "local", "driver", "null"), "none"},
	} {
		var got []string
		for _, n := range filterLocal(c.fs, nets) {
			got = append(got, n.GetName())
		}
		if s := join(got); s != c.want {
			t.Errorf("%s: got %q, want %q", c.name, s, c.want)
		}
	}
}

func join(s []string) string { return strings.Join(s, " ") }
