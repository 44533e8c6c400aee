// Package clusterport guards the cluster port (2377) before anything a
// peer sends is trusted: a connection must say what it is (the raft
// preamble byte or a TLS record) within PreambleTimeout and finish its TLS
// handshake within HandshakeTimeout, and one source address may hold at
// most MaxPendingPerSource connections that have not yet proved a node
// certificate. It knows nothing of raft or gRPC beyond their first byte;
// the manager wires it between the listener and the multiplexer.
package clusterport

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/soheilhy/cmux"
	"google.golang.org/grpc/credentials"
)

// Config bounds what an unauthenticated peer may hold.
type Config struct {
	// PreambleTimeout is how long a new connection has to send its first
	// byte.
	PreambleTimeout time.Duration
	// HandshakeTimeout is how long it has to finish TLS (and, on gRPC, the
	// HTTP/2 preface) after that.
	HandshakeTimeout time.Duration
	// MaxPendingPerSource is how many connections one source IP may have
	// open without having presented a verified node certificate; more are
	// closed as soon as they are accepted.
	MaxPendingPerSource int
	// MaxConcurrentHandshakes is how many TLS handshakes run at once; the
	// others wait for a slot (within their deadline), so a storm of
	// handshakes cannot take every CPU from the calls already being
	// served.
	MaxConcurrentHandshakes int
	Logger                  *slog.Logger
}

// DefaultConfig: a few seconds for a peer on any sane network, and room
// for a node's own reconnection bursts.
func DefaultConfig() Config {
	return Config{PreambleTimeout: 3 * time.Second, HandshakeTimeout: 5 * time.Second, MaxPendingPerSource: 64,
		MaxConcurrentHandshakes: max(1, runtime.GOMAXPROCS(0)/2)}
}

// Listener is a guarded listener: Accept hands out connections counted as
// pending for their source until Authenticated or closed.
type Listener struct {
	net.Listener
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	pending map[string]int
	refused atomic.Int64
	slots   chan struct{}
}

// Guard wraps l with cfg's limits (zero fields: DefaultConfig's).
func Guard(l net.Listener, cfg Config) *Listener {
	def := DefaultConfig()
	if cfg.PreambleTimeout <= 0 {
		cfg.PreambleTimeout = def.PreambleTimeout
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = def.HandshakeTimeout
	}
	if cfg.MaxPendingPerSource <= 0 {
		cfg.MaxPendingPerSource = def.MaxPendingPerSource
	}
	if cfg.MaxConcurrentHandshakes <= 0 {
		cfg.MaxConcurrentHandshakes = def.MaxConcurrentHandshakes
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Listener{Listener: l, cfg: cfg, log: log, pending: map[string]int{}, slots: make(chan struct{}, cfg.MaxConcurrentHandshakes)}
}

// Config is the listener's configuration, defaults filled in.
func (l *Listener) Config() Config { return l.cfg }

// Accept returns the next connection whose source is under its limit;
// the others are closed here and never reach raft or gRPC.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := source(c.RemoteAddr())
		l.mu.Lock()
		if l.pending[src] >= l.cfg.MaxPendingPerSource {
			l.mu.Unlock()
			if l.refused.Add(1)%1000 == 1 {
				l.log.Warn("cluster port: too many unauthenticated connections from one source; closing new ones", "source", src, "limit", l.cfg.MaxPendingPerSource, "refused", l.refused.Load())
			}
			c.Close()
			continue
		}
		l.pending[src]++
		l.mu.Unlock()
		return &conn{Conn: c, l: l, src: src}, nil
	}
}

// Refused is how many connections Accept closed for their source's limit.
func (l *Listener) Refused() int64 { return l.refused.Load() }

// Pending is how many unauthenticated connections src holds.
func (l *Listener) Pending(src string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pending[src]
}

func source(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

type conn struct {
	net.Conn
	l    *Listener
	src  string
	once sync.Once
}

func (c *conn) release() {
	c.once.Do(func() {
		c.l.mu.Lock()
		if c.l.pending[c.src]--; c.l.pending[c.src] <= 0 {
			delete(c.l.pending, c.src)
		}
		c.l.mu.Unlock()
	})
}

func (c *conn) Close() error {
	c.release()
	return c.Conn.Close()
}

// Authenticated takes c (or the guarded connection it wraps: TLS, the
// multiplexer's) off its source's pending count: it has proved a node
// certificate.
func Authenticated(c net.Conn) {
	for c != nil {
		switch x := c.(type) {
		case *conn:
			x.release()
			return
		case *cmux.MuxConn:
			c = x.Conn
		case interface{ NetConn() net.Conn }:
			c = x.NetConn()
		default:
			return
		}
	}
}

// tlsHandshake is the first byte of a TLS connection (a handshake
// record): gRPC's only way in.
const tlsHandshake = 0x16

// FirstByte is a multiplexer matcher for connections starting with b.
func FirstByte(b byte) cmux.Matcher {
	return func(r io.Reader) bool {
		p := make([]byte, 1)
		n, _ := r.Read(p)
		return n == 1 && p[0] == b
	}
}

// TLSRecord matches a connection starting a TLS handshake.
func TLSRecord() cmux.Matcher { return FirstByte(tlsHandshake) }

// ErrHandshakeQueue is returned when a handshake found no free slot
// before its deadline.
var ErrHandshakeQueue = errors.New("clusterport: too many TLS handshakes at once; try again")

// Handshake runs do (a TLS handshake) in one of the listener's handshake
// slots, waiting for one until deadline.
func (l *Listener) Handshake(deadline time.Time, do func() error) error {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
	case <-t.C:
		return ErrHandshakeQueue
	}
	defer func() { <-l.slots }()
	return do()
}

// ServerCredentials wraps gRPC server transport credentials: the
// handshake runs in a slot, and a connection whose client presented a
// verified certificate stops counting as pending (one without, a joining
// node, counts until it closes).
func (l *Listener) ServerCredentials(tc credentials.TransportCredentials) credentials.TransportCredentials {
	return gated{TransportCredentials: tc, l: l}
}

type gated struct {
	credentials.TransportCredentials
	l *Listener
}

func (g gated) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	var (
		c    net.Conn
		info credentials.AuthInfo
	)
	err := g.l.Handshake(time.Now().Add(g.l.cfg.HandshakeTimeout), func() error {
		var err error
		c, info, err = g.TransportCredentials.ServerHandshake(raw)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if ti, ok := info.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 {
		Authenticated(raw)
	}
	return c, info, nil
}

func (g gated) Clone() credentials.TransportCredentials {
	return gated{TransportCredentials: g.TransportCredentials.Clone(), l: g.l}
}
