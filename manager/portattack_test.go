package manager

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/minsw/minsw/manager/clusterport"
	"github.com/minsw/minsw/manager/raftnode"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// stillOpen reports, for each connection, whether the server still holds it
// open: a read that times out means open, EOF or a reset means closed.
func stillOpen(conns []net.Conn) int {
	var (
		mu   sync.Mutex
		open int
		wg   sync.WaitGroup
	)
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			_, err := c.Read(make([]byte, 1))
			var ne net.Error
			if err == nil || errors.As(err, &ne) && ne.Timeout() {
				mu.Lock()
				open++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return open
}

// TestClusterPortHalfOpenConnections: connections to 2377 that send
// nothing, only the raft preamble, or only the first byte of a TLS record
// are all closed by the server within 10 s (preamble and handshake
// deadlines; beyond the per-source limit at once), while the node's own
// in-memory connection keeps answering and the store is unchanged.
func TestClusterPortHalfOpenConnections(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m, _ := oneManager(t)
	before := storeDigest(m)
	local, err := m.LocalConn(m.cfg.Credentials)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	ctl := api.NewControlClient(local)

	const perKind = 150
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	start := time.Now()
	for _, preamble := range [][]byte{nil, {raftnode.RaftMagic}, {0x16}} {
		for range perKind {
			c, err := net.DialTimeout("tcp", m.cfg.AdvertiseAddr, 5*time.Second)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			conns = append(conns, c)
			if len(preamble) > 0 {
				_, _ = c.Write(preamble)
			}
		}
	}
	// The node's own calls do not wait for the port.
	for range 20 {
		if _, err := ctl.ListNodes(ctx, &api.ListNodesRequest{}); err != nil {
			t.Fatalf("local ListNodes during the flood: %v", err)
		}
	}
	cfg := clusterport.DefaultConfig()
	if cfg.PreambleTimeout+cfg.HandshakeTimeout >= 10*time.Second {
		t.Fatalf("deadlines %v + %v do not close a half-open connection within 10 s", cfg.PreambleTimeout, cfg.HandshakeTimeout)
	}
	const wait = 10 * time.Second
	time.Sleep(time.Until(start.Add(wait)))
	open := stillOpen(conns)
	at := newAttack(t, "half-open connections to 2377 (none / raft preamble / TLS byte), held 10 s")
	for i := range conns {
		var err error
		if i < open {
			err = nil
		} else {
			err = errors.New("closed by the server")
		}
		at.try(err, func(err error) bool { return err != nil })
	}
	at.done()
	t.Logf("FIGURE | idle unauthenticated connections to 2377 after %v | %d of %d | refused at accept: %d", wait.Round(time.Second), open, len(conns), m.ClusterPortRefused())
	if open != 0 {
		t.Fatalf("%d of %d half-open connections still open after %v", open, len(conns), wait)
	}
	if m.ClusterPortRefused() == 0 {
		t.Fatal("no connection was refused for its source's limit")
	}
	// A real client gets in afterwards, and nothing changed.
	if _, err := api.NewControlClient(dial(t, m)).ListNodes(ctx, &api.ListNodesRequest{}); err != nil {
		t.Fatalf("after the flood: %v", err)
	}
	if after := storeDigest(m); after != before {
		t.Fatalf("store changed:\nbefore %s\nafter  %s", before, after)
	}
}
