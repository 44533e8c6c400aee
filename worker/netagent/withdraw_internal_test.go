package netagent

import (
	"reflect"
	"testing"

	"github.com/minsw/minsw/worker/gossip"
)

func TestPendingWithdrawal(t *testing.T) {
	lb := func(node string, withdrawn ...string) gossip.Endpoint {
		return gossip.Endpoint{NetworkID: netID, ContainerID: "lb-" + node, IP: ip("10.0.1.37"), Withdrawn: withdrawn}
	}
	web2 := webEP("w2", "10.0.1.32", vtepB)
	web2.Draining = true
	tables := map[string][]gossip.Endpoint{
		netID:     {lb("nodeA", "w2"), lb("nodeB"), web2, webEP("w1", "10.0.1.31", vtepA)},
		"ingress": {lb("nodeA", "w2"), lb("nodeB", "w2"), lb("nodeC", "w9")},
	}
	endpoints := func(n string) []gossip.Endpoint { return tables[n] }
	for _, tc := range []struct {
		name string
		nets []string
		want []string
	}{
		{"node B's lb has not said so yet", []string{netID}, []string{"lb-nodeB"}},
		{"on the routing mesh node C speaks only of another task", []string{"ingress"}, []string{"lb-nodeC"}},
		{"each lb named once over several networks", []string{netID, "ingress"}, []string{"lb-nodeB", "lb-nodeC"}},
		{"a network no lb joined has nobody to wait for", []string{"other"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := pendingWithdrawal("w2", tc.nets, endpoints); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("pending %v, want %v", got, tc.want)
			}
		})
	}
}
