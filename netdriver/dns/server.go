// Package dns owns the embedded DNS server: one resolver in the daemon that
// answers at 127.0.0.11:53 inside every container's network namespace.
// <service> resolves to the service VIP, tasks.<service> to the task IPs, a
// container or task name to its IP, each only through the networks the
// asking container is on; other names are relayed to the container's own
// resolvers (--dns) or else to the node's. It opens sockets in container namespaces but must not touch
// links, addresses or firewall rules there: the overlay package owns those.
package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Config tunes a Server. Start from DefaultConfig.
type Config struct {
	// Records answers swarm names. Required.
	Records Resolver
	// Listen is where the server answers inside each namespace.
	Listen netip.AddrPort
	// Upstreams receive the queries for names outside the swarm. When nil,
	// they are read from ResolvConf once, at New.
	Upstreams []netip.AddrPort
	// ResolvConf is the node's resolver configuration, read when Upstreams
	// is nil.
	ResolvConf string
	// TTL of swarm answers. Docker uses 600 s; that keeps a removed task's
	// address in client caches for ten minutes. Service VIPs are stable but
	// tasks.<service> changes at every reschedule, so a short TTL bounds
	// how stale an answer can be while still sparing a burst of lookups.
	TTL time.Duration
	// ForwardTimeout bounds one attempt at one upstream.
	ForwardTimeout time.Duration
	// MaxForwards bounds the UDP queries being relayed at once, across all
	// namespaces; beyond it clients get SERVFAIL at once.
	MaxForwards int
	// MaxTCPConns bounds the open TCP connections per namespace.
	MaxTCPConns int
	// TCPIdle closes a TCP connection that sent nothing for this long.
	TCPIdle time.Duration
	Logger  *slog.Logger
}

// DefaultConfig is the daemon's configuration; records must still be set.
func DefaultConfig(records Resolver) Config {
	return Config{
		Records:        records,
		Listen:         netip.MustParseAddrPort("127.0.0.11:53"),
		ResolvConf:     "/etc/resolv.conf",
		TTL:            10 * time.Second,
		ForwardTimeout: 2 * time.Second,
		MaxForwards:    512,
		MaxTCPConns:    32,
		TCPIdle:        10 * time.Second,
		Logger:         slog.Default(),
	}
}

func (c *Config) validate() error {
	switch {
	case c.Records == nil:
		return errors.New("dns: config: no Records")
	case !c.Listen.IsValid():
		return errors.New("dns: config: no Listen address")
	case c.TTL < time.Second:
		return fmt.Errorf("dns: config: TTL %v is under one second", c.TTL)
	case c.ForwardTimeout <= 0 || c.MaxForwards <= 0 || c.MaxTCPConns <= 0 || c.TCPIdle <= 0:
		return errors.New("dns: config: ForwardTimeout, MaxForwards, MaxTCPConns and TCPIdle must be positive")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Stats counts what the server did since New.
type Stats struct {
	Queries   uint64 // queries read, both transports
	Answered  uint64 // answered from Records (including NXDOMAIN)
	Forwarded uint64 // relayed to an upstream and answered
	Failed    uint64 // relay failed or was refused for load: SERVFAIL
	Dropped   uint64 // not answered: too short, too long, or a response
}

// Server answers DNS in many network namespaces at once.
type Server struct {
	cfg  Config
	h    *handler
	fwd  *forwarder
	sem  chan struct{}
	ctx  context.Context // ends at Close; bounds every relay
	stop context.CancelFunc

	mu    sync.Mutex
	ctrs  map[string]*attachment
	close bool

	queries, answered, forwarded, failed, dropped atomic.Uint64
}

// attachment is the server's presence in one container's namespace.
type attachment struct {
	id    string
	netns string
	scope atomic.Pointer[Scope]
	udp   *net.UDPConn
	tcp   *net.TCPListener

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// New returns a Server that is attached nowhere yet.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ups := cfg.Upstreams
	if ups == nil {
		var err error
		if ups, err = ReadResolvConf(cfg.ResolvConf); err != nil {
			// Swarm names still work; outside names get SERVFAIL.
			cfg.Logger.Warn("dns: no upstream resolvers", "err", err)
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Server{
		cfg:  cfg,
		h:    &handler{records: cfg.Records, ttl: uint32(cfg.TTL / time.Second), canForward: len(ups) > 0},
		fwd:  &forwarder{upstreams: ups, timeout: cfg.ForwardTimeout},
		sem:  make(chan struct{}, cfg.MaxForwards),
		ctx:  ctx,
		stop: stop,
		ctrs: make(map[string]*attachment),
	}
	return s, nil
}

// Upstreams reports the resolvers outside names are relayed to.
func (s *Server) Upstreams() []netip.AddrPort {
	return append([]netip.AddrPort(nil), s.fwd.upstreams...)
}

// Stats reports the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Queries:   s.queries.Load(),
		Answered:  s.answered.Load(),
		Forwarded: s.forwarded.Load(),
		Failed:    s.failed.Load(),
		Dropped:   s.dropped.Load(),
	}
}

// Attach starts answering inside the network namespace at netnsPath for the
// container containerID, which sees the networks in scope. Attaching an
// attached container with the same namespace only updates its scope, so the
// agent can reconcile by calling Attach again.
func (s *Server) Attach(ctx context.Context, netnsPath, containerID string, scope Scope) error {
	scope = s.ownScope(scope)
	s.mu.Lock()
	if s.close {
		s.mu.Unlock()
		return errors.New("dns: server closed")
	}
	if a := s.ctrs[containerID]; a != nil {
		s.mu.Unlock()
		if a.netns != netnsPath {
			return fmt.Errorf("dns: container %s already attached in %s, not %s", containerID, a.netns, netnsPath)
		}
		a.scope.Store(&scope)
		return nil
	}
	s.mu.Unlock()

	udp, tcp, err := listenIn(ctx, netnsPath, s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("dns: attach container %s: %w", containerID, err)
	}
	a := &attachment{id: containerID, netns: netnsPath, udp: udp, tcp: tcp, conns: make(map[net.Conn]struct{})}
	a.scope.Store(&scope)

	s.mu.Lock()
	if s.close || s.ctrs[containerID] != nil {
		s.mu.Unlock()
		udp.Close()
		tcp.Close()
		return fmt.Errorf("dns: attach container %s: raced with Close or another Attach", containerID)
	}
	s.ctrs[containerID] = a
	s.mu.Unlock()

	a.wg.Add(2)
	go func() { defer a.wg.Done(); s.serveUDP(a) }()
	go func() { defer a.wg.Done(); s.serveTCP(a) }()
	s.cfg.Logger.Debug("dns: attached", "container", containerID, "netns", netnsPath, "networks", scope.Networks)
	return nil
}

// SetScope changes the networks an attached container sees.
func (s *Server) SetScope(containerID string, scope Scope) error {
	scope = s.ownScope(scope)
	s.mu.Lock()
	a := s.ctrs[containerID]
	s.mu.Unlock()
	if a == nil {
		return fmt.Errorf("dns: container %s: %w", containerID, ErrNotAttached)
	}
	a.scope.Store(&scope)
	return nil
}

// ownScope copies the caller's scope and drops container upstreams that are
// this server's own address: relaying to it would send each query round and
// round until the relay slots ran out.
func (s *Server) ownScope(scope Scope) Scope {
	scope.Networks = append([]string(nil), scope.Networks...)
	var ups []netip.AddrPort
	for _, u := range scope.Upstreams {
		if u != s.cfg.Listen {
			ups = append(ups, u)
		}
	}
	scope.Upstreams = ups
	return scope
}

// ErrNotAttached is returned for a container the server does not serve.
var ErrNotAttached = errors.New("not attached")

// Detach stops answering for containerID and closes its sockets; it returns
// once no goroutine serves that namespace any more. Detaching a container
// that is not attached is not an error.
func (s *Server) Detach(containerID string) error {
	s.mu.Lock()
	a := s.ctrs[containerID]
	delete(s.ctrs, containerID)
	s.mu.Unlock()
	if a != nil {
		a.shutdown()
	}
	return nil
}

// Attached lists the containers being served.
func (s *Server) Attached() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.ctrs))
	for id := range s.ctrs {
		out = append(out, id)
	}
	return out
}

// Close detaches every container and cancels queries being relayed.
func (s *Server) Close() error {
	s.mu.Lock()
	s.close = true
	ctrs := s.ctrs
	s.ctrs = map[string]*attachment{}
	s.mu.Unlock()
	s.stop()
	for _, a := range ctrs {
		a.shutdown()
	}
	// Wait for in-flight relays: each holds a semaphore slot.
	for range cap(s.sem) {
		s.sem <- struct{}{}
	}
	return nil
}

func (a *attachment) shutdown() {
	a.udp.Close()
	a.tcp.Close()
	a.mu.Lock()
	for c := range a.conns {
		c.Close()
	}
	a.mu.Unlock()
	a.wg.Wait()
}

func (s *Server) serveUDP(a *attachment) {
	// One byte more than we accept, so an oversized query is seen as such.
	in := make([]byte, maxQuery+1)
	out := make([]byte, 0, maxUDPAnswer)
	for {
		n, from, err := a.udp.ReadFromUDPAddrPort(in)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. ICMP-induced errors on the socket: keep serving
		}
		s.queries.Add(1)
		scope := a.scope.Load()
		resp, v := s.h.handle(in[:n], *scope, true, out)
		switch v {
		case vReply:
			s.answered.Add(1)
			a.udp.WriteToUDPAddrPort(resp, from)
		case vDrop:
			s.dropped.Add(1)
		case vForward:
			s.relayUDP(a, scope, append([]byte(nil), in[:n]...), from)
		}
	}
}

// upstreams are where a's queries for outside names go: the container's own
// resolvers, asked from its namespace, else the node's, asked from ours.
func (s *Server) upstreams(a *attachment, scope *Scope) ([]netip.AddrPort, string) {
	if len(scope.Upstreams) > 0 {
		return scope.Upstreams, a.netns
	}
	return s.fwd.upstreams, ""
}

func (s *Server) relayUDP(a *attachment, scope *Scope, q []byte, from netip.AddrPort) {
	select {
	case s.sem <- struct{}{}:
	default:
		s.failed.Add(1)
		a.udp.WriteToUDPAddrPort(headerReply(q, 2, nil), from) // SERVFAIL
		return
	}
	go func() {
		defer func() { <-s.sem }()
		ups, netns := s.upstreams(a, scope)
		resp, err := s.fwd.exchange(s.ctx, q, true, ups, netns)
		if err != nil {
			s.failed.Add(1)
			s.cfg.Logger.Debug("dns: relay failed", "container", a.id, "err", err)
			resp = headerReply(q, 2, nil)
		} else {
			s.forwarded.Add(1)
		}
		// The socket may be closed by Detach meanwhile; the write then fails
		// harmlessly.
		a.udp.WriteToUDPAddrPort(resp, from)
	}()
}

func (s *Server) serveTCP(a *attachment) {
	for {
		c, err := a.tcp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Accept errors such as EMFILE: back off briefly, bounded by
			// Close, which makes Accept fail with ErrClosed.
			time.Sleep(50 * time.Millisecond)
			continue
		}
		a.mu.Lock()
		if len(a.conns) >= s.cfg.MaxTCPConns {
			a.mu.Unlock()
			c.Close()
			continue
		}
		a.conns[c] = struct{}{}
		a.wg.Add(1)
		a.mu.Unlock()
		go func() {
			defer a.wg.Done()
			s.serveConn(a, c)
			a.mu.Lock()
			delete(a.conns, c)
			a.mu.Unlock()
			c.Close()
		}()
	}
}

// serveConn answers length-prefixed queries on one TCP connection, in order,
// until the client closes, idles or sends something unacceptable.
func (s *Server) serveConn(a *attachment, c net.Conn) {
	in := make([]byte, maxQuery)
	out := make([]byte, 0, maxUDPAnswer)
	var l [2]byte
	for {
		c.SetDeadline(time.Now().Add(s.cfg.TCPIdle))
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(l[:]))
		if n < headerLen || n > maxQuery {
			s.queries.Add(1)
			s.dropped.Add(1)
			return
		}
		if _, err := io.ReadFull(c, in[:n]); err != nil {
			return
		}
		s.queries.Add(1)
		scope := a.scope.Load()
		resp, v := s.h.handle(in[:n], *scope, false, out)
		switch v {
		case vDrop:
			s.dropped.Add(1)
			return
		case vForward:
			ups, netns := s.upstreams(a, scope)
			r, err := s.fwd.exchange(s.ctx, in[:n], false, ups, netns)
			if err != nil {
				s.failed.Add(1)
				r = headerReply(in[:n], 2, nil)
			} else {
				s.forwarded.Add(1)
			}
			resp = r
		default:
			s.answered.Add(1)
		}
		msg := make([]byte, 2, 2+len(resp))
		binary.BigEndian.PutUint16(msg, uint16(len(resp)))
		msg = append(msg, resp...)
		if _, err := c.Write(msg); err != nil {
			return
		}
	}
}
