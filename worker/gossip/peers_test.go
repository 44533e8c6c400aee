package gossip

import (
	"fmt"
	"slices"
	"testing"
)

// Every node sees the others by the hostnames they were given, and a
// network's members are the nodes that joined it.
func TestNetworkMembersCarryHostnames(t *testing.T) {
	var ds []*DB
	for i := range 3 {
		cfg := testConfig(fmt.Sprintf("nodeid%d", i))
		cfg.Hostname = fmt.Sprintf("swarm-worker%d", i)
		ds = append(ds, start(t, cfg, ds...))
	}
	for _, d := range ds[:2] {
		if err := d.JoinNetwork(net1); err != nil {
			t.Fatal(err)
		}
	}
	names := func(ms []Member) (out []string) {
		for _, m := range ms {
			out = append(out, m.Name+"="+m.Hostname)
		}
		slices.Sort(out)
		return out
	}
	want := []string{"nodeid0=swarm-worker0", "nodeid1=swarm-worker1"}
	for i, d := range ds {
		eventually(t, fmt.Sprintf("node %d sees nodes 0 and 1 on the network by hostname", i), func() bool {
			return slices.Equal(names(d.NetworkMembers(net1)), want) && len(d.Members()) == 3
		})
	}
	if got := names(ds[2].Members()); !slices.Contains(got, "nodeid2=swarm-worker2") {
		t.Errorf("members of node 2: %v", got)
	}
	if got := hostnameMeta("a-very-long-hostname", 6); string(got) != "a-very" {
		t.Errorf("meta cut to 6 bytes: %q", got)
	}
}
