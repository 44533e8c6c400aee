package clusterport

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"
)

func listen(t *testing.T, max int) *Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := Guard(l, Config{MaxPendingPerSource: max})
	t.Cleanup(func() { g.Close() })
	return g
}

// closedByPeer says whether the server side closed c (EOF or reset),
// waiting up to d.
func closedByPeer(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func TestPendingLimitPerSource(t *testing.T) {
	g := listen(t, 3)
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := g.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	var clients []net.Conn
	for range 5 {
		c, err := net.Dial("tcp", g.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	var server []net.Conn
	for range 3 {
		select {
		case c := <-accepted:
			server = append(server, c)
		case <-time.After(5 * time.Second):
			t.Fatal("the first three connections were not accepted")
		}
	}
	// The fourth and fifth are closed by the guard, never handed out.
	if !closedByPeer(clients[3], 5*time.Second) || !closedByPeer(clients[4], 5*time.Second) {
		t.Fatal("connections over the limit were kept open")
	}
	if g.Refused() != 2 || g.Pending("127.0.0.1") != 3 {
		t.Fatalf("refused %d, pending %d", g.Refused(), g.Pending("127.0.0.1"))
	}
	// One proves itself, one closes: two places free up.
	Authenticated(server[0])
	server[1].Close()
	if p := g.Pending("127.0.0.1"); p != 1 {
		t.Fatalf("pending after one authenticated and one closed: %d", p)
	}
	server[0].Close() // closing an authenticated one does not count twice
	if p := g.Pending("127.0.0.1"); p != 1 {
		t.Fatalf("pending after closing an authenticated connection: %d", p)
	}
	c, err := net.Dial("tcp", g.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("a connection under the limit again was not accepted")
	}
}

func TestFirstByte(t *testing.T) {
	for _, tt := range []struct {
		in   []byte
		want byte
		ok   bool
	}{
		{[]byte{'R'}, 'R', true},
		{[]byte{0x16, 3, 1}, tlsHandshake, true},
		{[]byte("PRI * HTTP/2.0"), tlsHandshake, false},
		{nil, 'R', false},
	} {
		if got := FirstByte(tt.want)(bytes.NewReader(tt.in)); got != tt.ok {
			t.Errorf("FirstByte(%q) on %q = %v", tt.want, tt.in, got)
		}
	}
}

func TestHandshakeSlots(t *testing.T) {
	g := listen(t, 8)
	if g.Config().MaxConcurrentHandshakes < 1 {
		t.Fatalf("default handshake slots: %d", g.Config().MaxConcurrentHandshakes)
	}
	g = Guard(g.Listener, Config{MaxConcurrentHandshakes: 1})
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- g.Handshake(time.Now().Add(5*time.Second), func() error {
			close(started)
			<-release
			return nil
		})
	}()
	<-started
	// The only slot is taken: a second handshake waits, then gives up at
	// its deadline without running.
	ran := false
	err := g.Handshake(time.Now().Add(100*time.Millisecond), func() error { ran = true; return nil })
	if !errors.Is(err, ErrHandshakeQueue) || ran {
		t.Fatalf("second handshake: %v, ran %v", err, ran)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The slot is free again.
	if err := g.Handshake(time.Now().Add(time.Second), func() error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("after release: %v, ran %v", err, ran)
	}
}
