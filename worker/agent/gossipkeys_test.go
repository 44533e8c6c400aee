package agent_test

import (
	"bytes"
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/executor/fake"
)

// The swarm's gossip keys reach the agent through its session, and a
// rotation on the managers reaches it too, primary key first.
func TestGossipKeysFollowTheCluster(t *testing.T) {
	st := newStore(t, "worker1")
	setKeys := func(keys ...[]byte) {
		err := st.Update(context.Background(), func(tx *store.Tx) error {
			c := proto.Clone(tx.Cluster()).(*api.Cluster)
			c.GossipKeys = keys
			return tx.Update(c)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	setKeys(k1)
	m := newManager(t, st, nil)
	m.run()
	a, _ := startAgent(t, "worker1", []string{m.addr}, fake.New())
	waitFor(t, "first key", func() bool { ks := a.GossipKeys(); return len(ks) == 1 && bytes.Equal(ks[0], k1) })
	setKeys(k2, k1)
	waitFor(t, "rotated keys", func() bool {
		ks := a.GossipKeys()
		return len(ks) == 2 && bytes.Equal(ks[0], k2) && bytes.Equal(ks[1], k1)
	})
}
