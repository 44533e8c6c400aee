package controlapi

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// filters is what `--filter k=v` sends: one ListFilter per key.
func filters(t *testing.T, args ...string) []*api.ListFilter {
	t.Helper()
	var out []*api.ListFilter
	idx := map[string]int{}
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		if i, ok := idx[k]; ok {
			out[i].Values = append(out[i].Values, v)
			continue
		}
		idx[k] = len(out)
		out = append(out, &api.ListFilter{Key: k, Values: []string{v}})
	}
	return out
}

// docker's filter keys on the lists, applied by the Control API once for
// the CLI and the Engine API alike.
func TestListFilters(t *testing.T) {
	s, _ := newServer(t)
	ctx := context.Background()
	g := webSpec("agent")
	g.Mode = &api.ServiceSpec_Global{Global: &api.GlobalService{}}
	g.Labels = map[string]string{"tier": "ops"}
	if _, err := s.CreateService(ctx, &api.CreateServiceRequest{Spec: g}); err != nil {
		t.Fatal(err)
	}
	services := func(args ...string) string {
		r, err := s.ListServices(ctx, &api.ListServicesRequest{Filters: filters(t, args...)})
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		var names []string
		for _, sv := range r.Services {
			names = append(names, sv.Spec.Name)
		}
		return strings.Join(names, " ")
	}
	nodes := func(args ...string) string {
		r, err := s.ListNodes(ctx, &api.ListNodesRequest{Filters: filters(t, args...)})
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		var names []string
		for _, n := range r.Nodes {
			names = append(names, n.Description.Hostname)
		}
		return strings.Join(names, " ")
	}
	networks := func(args ...string) string {
		r, err := s.ListNetworks(ctx, &api.ListNetworksRequest{Filters: filters(t, args...)})
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		var names []string
		for _, n := range r.Networks {
			names = append(names, n.Spec.Name)
		}
		sort.Strings(names)
		return strings.Join(names, " ")
	}
	for _, tc := range []struct{ name, got, want string }{
		{"service ls", services(), "agent web"},
		{"service name prefix", services("name=we"), "web"},
		{"service mode", services("mode=global"), "agent"},
		{"service label key", services("label=tier"), "agent"},
		{"service label key=value", services("label=tier=web"), ""},
		{"two values of one key: either", services("name=web", "name=agent"), "agent web"},
		{"two keys: both", services("name=web", "mode=global"), ""},
		{"node role", nodes("role=manager"), "host-mgr"},
		{"node name", nodes("name=host-w"), "host-wrk"},
		{"node membership", nodes("membership=accepted"), "host-mgr host-wrk"},
		{"network driver", networks("driver=overlay"), "ingress mynet"},
		{"network name", networks("name=my"), "mynet"},
		{"network scope", networks("scope=local"), ""},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	_, err := s.ListServices(ctx, &api.ListServicesRequest{Filters: filters(t, "colour=red")})
	if !errdefs.Is(err, errdefs.KindInvalidArgument) || err.Error() != "invalid filter 'colour'" {
		t.Errorf("unknown key: %v", err)
	}
}
