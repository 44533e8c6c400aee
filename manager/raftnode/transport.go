package raftnode

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
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
		return tls.Server(c, s.server), nil
	}
	return c, nil
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
	c, err := m.Listener.Accept()
	if err != nil {
		return nil, err
	}
	b := make([]byte, 1)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(b); err != nil || b[0] != RaftMagic {
		c.Close()
		if err == nil {
			err = errors.New("raftnode: connection without raft magic")
		}
		return nil, err
	}
	_ = c.SetReadDeadline(time.Time{})
	return c, nil
}
