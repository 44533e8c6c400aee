package raftnode

import (
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// RaftMagic is the first byte a raft connection sends on the cluster port,
// so the port's multiplexer can tell raft from gRPC (whose connections start
// with "PRI" or a TLS record, 0x16).
const RaftMagic byte = 'R'

// StreamLayer carries raft over connections taken from the cluster port's
// listener (already stripped of the magic byte) and dialed with it.
type StreamLayer struct {
	net.Listener
	advertise net.Addr
	server    *tls.Config // nil: plain TCP
	client    *tls.Config
	// expect names the node ID the peer at an address must be ("": any
	// manager of the swarm); set by ExpectPeer.
	expect func(addr string) string
	// authenticated is told of each accepted connection whose handshake
	// completed.
	authenticated func(net.Conn)
	// handshakeTimeout bounds an accepted connection's TLS handshake;
	// authenticated is told of each that completes (SetHandshake).
	handshakeTimeout time.Duration
	gate             HandshakeGate
}

// HandshakeGate runs an accepted connection's handshake (do) by its
// deadline, where the cluster port allows it, and learns that raw proved
// its certificate when do succeeded.
type HandshakeGate interface {
	Handshake(deadline time.Time, do func() error) error
}

// SetHandshake bounds the TLS handshake of accepted connections to timeout
// (a peer that connects and says nothing is dropped) and runs it through
// gate (nil: at once); authenticated is called with the raw connection of
// each that completes.
func (s *StreamLayer) SetHandshake(timeout time.Duration, gate HandshakeGate, authenticated func(net.Conn)) {
	s.handshakeTimeout, s.gate, s.authenticated = timeout, gate, authenticated
}

// ExpectPeer makes Dial refuse a peer whose certificate names another node
// than expect(address): a stranger holding a manager certificate who took
// over a member's address gets neither votes nor log entries.
func (s *StreamLayer) ExpectPeer(expect func(addr string) string) { s.expect = expect }

// NewStreamLayer wraps l, whose connections the multiplexer has matched as
// raft. advertise is the address other managers dial. server and client
// (both or neither) secure accepted and dialed connections: on the cluster
// port, mutual TLS with the node's certificate.
func NewStreamLayer(l net.Listener, advertise net.Addr, server, client *tls.Config) *StreamLayer {
	return &StreamLayer{Listener: l, advertise: advertise, server: server, client: client}
}

// Accept returns the next raft connection, TLS-wrapped when configured.
func (s *StreamLayer) Accept() (net.Conn, error) {
	c, err := s.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if s.server != nil {
		// The handshake runs on raft's first read, in the connection's own
		// goroutine: a refused or slow peer never holds up Accept.
		return &lazyHandshake{Conn: tls.Server(c, s.server), raw: c, timeout: s.handshakeTimeout, gate: s.gate, done: s.authenticated}, nil
	}
	return c, nil
}

// lazyHandshake runs the server's TLS handshake, within a deadline, on
// the first read or write.
type lazyHandshake struct {
	*tls.Conn
	raw     net.Conn
	timeout time.Duration
	gate    HandshakeGate
	done    func(net.Conn)
	once    sync.Once
	err     error
}

func (c *lazyHandshake) handshake() error {
	c.once.Do(func() {
		deadline := time.Now().Add(c.timeout)
		if c.timeout > 0 {
			_ = c.Conn.SetDeadline(deadline)
		}
		if c.gate != nil {
			c.err = c.gate.Handshake(deadline, c.Conn.Handshake)
		} else {
			c.err = c.Conn.Handshake()
		}
		if c.err != nil {
			c.Conn.Close()
			return
		}
		_ = c.Conn.SetDeadline(time.Time{})
		if c.done != nil {
			c.done(c.raw)
		}
	})
	return c.err
}

func (c *lazyHandshake) Read(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *lazyHandshake) Write(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// Addr is the advertised address.
func (s *StreamLayer) Addr() net.Addr {
	if s.advertise != nil {
		return s.advertise
	}
	return s.Listener.Addr()
}

// Dial opens a raft connection to address.
func (s *StreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.Dial("tcp", string(address))
	if err != nil {
		return nil, err
	}
	if _, err := c.Write([]byte{RaftMagic}); err != nil {
		c.Close()
		return nil, err
	}
	if s.client != nil {
		tc := tls.Client(c, s.client)
		_ = tc.SetDeadline(time.Now().Add(timeout))
		if err := tc.Handshake(); err != nil {
			c.Close()
			return nil, err
		}
		_ = tc.SetDeadline(time.Time{})
		if s.expect != nil {
			if want := s.expect(string(address)); want != "" {
				st := tc.ConnectionState()
				if len(st.PeerCertificates) == 0 || st.PeerCertificates[0].Subject.CommonName != want {
					got := ""
					if len(st.PeerCertificates) > 0 {
						got = st.PeerCertificates[0].Subject.CommonName
					}
					tc.Close()
					return nil, fmt.Errorf("raftnode: the manager at %s is node %q, not %s as the raft configuration says", address, got, want)
				}
			}
		}
		return tc, nil
	}
	return c, nil
}

// NewNetworkTransport builds raft's TCP transport over the stream layer.
func NewNetworkTransport(s *StreamLayer) *raft.NetworkTransport {
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  s,
		MaxPool: 3,
		Timeout: 10 * time.Second,
	})
}

// magicStripper is a listener whose connections had their magic byte read
// by the multiplexer already; cmux replays peeked bytes, so it drops it.
type magicStripper struct{ net.Listener }

// StripMagic wraps a cmux-matched raft listener so Accept yields connections
// positioned after the magic byte.
func StripMagic(l net.Listener) net.Listener { return magicStripper{l} }

func (m magicStripper) Accept() (net.Conn, error) {
	for {
		c, err := m.Listener.Accept()
		if err != nil {
			return nil, err
		}
		// A bad connection is dropped here: an error from Accept would make
		// raft's accept loop back off, which a stranger could use to stall it.
		b := make([]byte, 1)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(b); err != nil || b[0] != RaftMagic {
			c.Close()
			continue
		}
		_ = c.SetReadDeadline(time.Time{})
		return c, nil
	}
}
