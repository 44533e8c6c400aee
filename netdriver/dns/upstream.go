package dns

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
)

// ReadResolvConf returns the nameservers of a resolv.conf file as upstreams
// on port 53, skipping loopback addresses: those name a resolver inside the
// daemon's own stub (systemd-resolved, dnsmasq) that containers' answers
// must not depend on, and one of them would be this server itself.
func ReadResolvConf(path string) ([]netip.AddrPort, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dns: read upstream resolvers: %w", err)
	}
	defer f.Close()
	return parseResolvConf(f)
}

func parseResolvConf(r io.Reader) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(fields[1])
		if err != nil || a.IsLoopback() {
			continue
		}
		out = append(out, netip.AddrPortFrom(a.WithZone(""), 53))
	}
	return out, sc.Err()
}

// forwarder relays queries for names outside the swarm, raw, over the
// transport the client used; a truncated UDP answer is relayed as is so the
// client retries over TCP, which is then forwarded over TCP.
type forwarder struct {
	upstreams []netip.AddrPort // the node's
	timeout   time.Duration
}

// bufPool holds receive buffers for relayed UDP answers, which may be as
// large as the client's EDNS size allows.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 65535); return &b }}

var errNoAnswer = errors.New("dns: no upstream answered")

// exchange sends q to each of ups in turn until one answers within the
// timeout. With netnsPath empty it runs in the daemon's network namespace,
// where the node's resolvers are reachable whether or not the container has
// egress; a container's own resolvers are asked from its namespace
// (netnsPath), over its routes, as docker does.
func (f *forwarder) exchange(ctx context.Context, q []byte, udp bool, ups []netip.AddrPort, netnsPath string) ([]byte, error) {
	if len(q) < headerLen {
		return nil, errNoAnswer
	}
	err := errNoAnswer
	for _, up := range ups {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var resp []byte
		var e error
		if udp {
			resp, e = f.udp(ctx, up, q, netnsPath)
		} else {
			resp, e = f.tcp(ctx, up, q, netnsPath)
		}
		if e == nil {
			return resp, nil
		}
		err = fmt.Errorf("dns: upstream %v: %w", up, e)
	}
	return nil, err
}

func (f *forwarder) udp(ctx context.Context, up netip.AddrPort, q []byte, netnsPath string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	c, err := dialFrom(ctx, netnsPath, "udp", up)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if _, err := c.Write(q); err != nil {
		return nil, err
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	// A connected socket only hears from up; still skip stray answers to
	// other IDs, a bounded number of times.
	for range 8 {
		n, err := c.Read(buf)
		if err != nil {
			return nil, err
		}
		if n >= headerLen && buf[0] == q[0] && buf[1] == q[1] && buf[2]&0x80 != 0 {
			return append([]byte(nil), buf[:n]...), nil
		}
	}
	return nil, errNoAnswer
}

func (f *forwarder) tcp(ctx context.Context, up netip.AddrPort, q []byte, netnsPath string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	c, err := dialFrom(ctx, netnsPath, "tcp", up)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	msg := make([]byte, 2+len(q))
	binary.BigEndian.PutUint16(msg, uint16(len(q)))
	copy(msg[2:], q)
	if _, err := c.Write(msg); err != nil {
		return nil, err
	}
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return nil, err
	}
	resp := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(c, resp); err != nil {
		return nil, err
	}
	if len(resp) < headerLen || resp[0] != q[0] || resp[1] != q[1] {
		return nil, errNoAnswer
	}
	return resp, nil
}
